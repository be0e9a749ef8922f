//! Alert quality on generated promos with injected incidents, against their ground-truth
//! labels: the war room's default anomaly rules and the stock-out forecast, evaluated
//! every minute of event time while the promo is replayed in arrival order.
//!
//! Targets (issue 6): recall >= 0.95 of incidents, precision >= 0.90 of alert episodes,
//! no alert from the midnight opening spike, and stock-out warnings at least 30 minutes
//! before the SKU hits zero for >= 90% of stock-outs. The default seeds keep CI short;
//! `PROMODB_QUALITY_SEEDS=1-20 PROMODB_QUALITY_CLEAN=101-110` measures more (the figures of
//! docs/alerts.md), with `--nocapture` to see every episode.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;

use chrono::{DateTime, Duration, Utc};
use promodb::PromoDb;
use promodb::alerts::{Alerts, PromoCalendar, Rule, Transition};
use promodb::arrow::array::AsArray;
use promodb::arrow::compute::cast;
use promodb::arrow::datatypes::{DataType, Int64Type};
use promodb_datagen::{IncidentKind, IncidentSet, PromoConfig, Replay, generate};

/// Events per promo: the scale the rules were calibrated at (their weakest case).
const SCALE: usize = 300_000;
/// An episode may start up to this long after its incident ended and still match it.
const GRACE_MINUTES: i64 = 15;
/// The stock-out forecast's lead in this test: warn when stock lasts under an hour.
const STOCK_LEAD_MINUTES: i64 = 60;
const STOCK_RULE: &str = "stock-out forecast";

/// An alert from firing to resolved (or the promo's end).
#[derive(Debug, Clone)]
struct Episode {
    rule: String,
    key: String,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    message: String,
}

/// What one promo's replay showed.
#[derive(Debug, Default)]
struct Outcome {
    name: String,
    incidents: usize,
    detected: usize,
    episodes: usize,
    matched: usize,
    opening: Vec<String>,
    unexplained: Vec<String>,
    missed: Vec<String>,
    /// (incident kind, minutes from its start to the first matching alert)
    delays: Vec<(&'static str, i64)>,
    stock_outs: usize,
    stock_outs_warned: usize,
    /// Stock-out leads in minutes (None: never warned).
    stock_leads: Vec<(String, Option<i64>)>,
    /// Stock warnings whose SKU ran out in time, that could not be judged (the promo
    /// ended first), and the false ones.
    stock_right: usize,
    stock_unjudged: usize,
    stock_false: Vec<String>,
    /// Per SKU that ran out: its warnings and when it hit zero.
    stock_history: BTreeMap<String, Vec<String>>,
}

/// Which incident kinds move each rule's series: (what it is built to catch, what it
/// sees as a consequence). An episode matching either is a true alert; recall counts
/// the first set only.
fn exposure(rule: &str) -> (&'static [IncidentKind], &'static [IncidentKind]) {
    use IncidentKind::*;
    match rule {
        "traffic anomaly" => (&[TrafficDrop], &[]),
        "orders anomaly" | "gmv drop" => (&[], &[TrafficDrop, PaymentOutage]),
        "channel orders anomaly" => (&[ConversionCollapse], &[TrafficDrop, PaymentOutage]),
        "payment success drop" => (&[PaymentOutage], &[]),
        "ad conversion drop" => (&[ConversionCollapse], &[]),
        _ => (&[], &[]),
    }
}

fn matches(episode: &Episode, incident: &promodb_datagen::Incident, primary_only: bool) -> bool {
    let (primary, symptom) = exposure(&episode.rule);
    let is_primary = primary.contains(&incident.kind);
    if !is_primary && (primary_only || !symptom.contains(&incident.kind)) {
        return false;
    }
    if is_primary && incident.key.as_ref().is_some_and(|k| *k != episode.key) {
        return false;
    }
    let end = episode.end.unwrap_or(DateTime::<Utc>::MAX_UTC);
    episode.start <= incident.end + Duration::minutes(GRACE_MINUTES) && end >= incident.start
}

fn replay(seed: u64, incidents: IncidentSet) -> Outcome {
    let promo = generate(
        &PromoConfig::new(SCALE)
            .with_seed(seed)
            .with_incidents(incidents),
    );
    let start = promo.config().start;
    let db = PromoDb::in_memory().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut replay = Replay::new(&promo, &db).unwrap();
    let mut alerts = Alerts::new(&db).unwrap();
    let calendar = PromoCalendar::new(start);
    for rule in Rule::promo_anomalies(calendar) {
        runtime.block_on(alerts.add(rule)).unwrap();
    }
    runtime
        .block_on(alerts.add(Rule::stock_out_forecast_by_curve(
            calendar,
            Duration::minutes(STOCK_LEAD_MINUTES),
        )))
        .unwrap();
    let mut open: BTreeMap<(String, String), Episode> = BTreeMap::new();
    let mut episodes = Vec::new();
    replay
        .run_until(promo.config().end(), Duration::minutes(1), None, |tick| {
            for event in runtime.block_on(alerts.evaluate(tick.clock))? {
                let slot = (event.rule.clone(), event.key.clone());
                match event.transition {
                    Transition::Firing => {
                        open.insert(
                            slot,
                            Episode {
                                rule: event.rule,
                                key: event.key,
                                start: event.at,
                                end: None,
                                message: event.message,
                            },
                        );
                    }
                    Transition::Resolved => {
                        if let Some(mut episode) = open.remove(&slot) {
                            episode.end = Some(event.at);
                            episodes.push(episode);
                        }
                    }
                    _ => {}
                }
            }
            Ok(())
        })
        .unwrap();
    episodes.extend(open.into_values());
    let stock_outs = stock_out_times(&runtime, &db);

    let name = match incidents {
        IncidentSet::Default => format!("seed {seed}"),
        IncidentSet::None => format!("clean {seed}"),
    };
    let mut outcome = Outcome {
        name,
        ..Outcome::default()
    };
    let labels: Vec<_> = promo
        .incidents()
        .iter()
        .filter(|i| i.kind != IncidentKind::StockOut)
        .collect();
    let describe = |e: &Episode| {
        let end = e
            .end
            .map_or("end".to_string(), |t| t.format("%H:%M").to_string());
        format!("{} {} [{}]", e.start.format("%H:%M"), end, e.message)
    };
    let (stock, anomalies): (Vec<_>, Vec<_>) = episodes.iter().partition(|e| e.rule == STOCK_RULE);
    outcome.incidents = labels.len();
    for incident in &labels {
        let first = anomalies
            .iter()
            .filter(|e| matches(e, incident, true))
            .map(|e| e.start)
            .min();
        match first {
            Some(at) => {
                outcome.detected += 1;
                outcome
                    .delays
                    .push((incident.kind.name(), (at - incident.start).num_minutes()));
            }
            None => outcome.missed.push(format!(
                "{} {:?} at {}",
                incident.kind.name(),
                incident.key,
                incident.start.format("%H:%M")
            )),
        }
    }
    outcome.episodes = anomalies.len();
    for episode in &anomalies {
        if labels.iter().any(|i| matches(episode, i, false)) {
            outcome.matched += 1;
        } else {
            outcome.unexplained.push(describe(episode));
        }
        if episode.start < start + Duration::hours(1) {
            outcome.opening.push(describe(episode));
        }
    }

    // Stock-outs: every SKU whose stock hit zero, labelled or not.
    outcome.stock_outs = stock_outs.len();
    for (sku, zero_at) in &stock_outs {
        // The warning is the episode still up when the stock hit zero (a warning that
        // resolved before does not count).
        let warned = stock
            .iter()
            .filter(|e| &e.key == sku && e.start <= *zero_at)
            .filter(|e| e.end.is_none_or(|end| end >= *zero_at))
            .map(|e| e.start)
            .min();
        let lead = warned.map(|at| (*zero_at - at).num_minutes());
        if lead.is_some_and(|m| m >= 30) {
            outcome.stock_outs_warned += 1;
        }
        outcome.stock_leads.push((sku.clone(), lead));
        let mut history: Vec<String> = stock
            .iter()
            .filter(|e| &e.key == sku)
            .map(|e| describe(e))
            .collect();
        history.push(format!("hit zero at {}", zero_at.format("%H:%M")));
        outcome.stock_history.insert(sku.clone(), history);
    }
    // A stock warning is right if its SKU ran out before it or within twice the lead
    // after it; it cannot be judged if the promo ended before that.
    let horizon = Duration::minutes(2 * STOCK_LEAD_MINUTES);
    let promo_end = promo.config().end();
    for episode in &stock {
        match stock_outs.get(&episode.key) {
            Some(zero_at) if *zero_at <= episode.start + horizon => outcome.stock_right += 1,
            _ if episode.start + horizon > promo_end => outcome.stock_unjudged += 1,
            _ => outcome.stock_false.push(describe(episode)),
        }
        if episode.start < start + Duration::hours(1) {
            outcome.opening.push(describe(episode));
        }
    }
    outcome
}

/// Per SKU whose total stock hit zero: when its last unit sold (the last order line at
/// or before the first inventory snapshot showing zero over all its warehouses).
fn stock_out_times(
    runtime: &tokio::runtime::Runtime,
    db: &PromoDb,
) -> BTreeMap<String, DateTime<Utc>> {
    let sql = "WITH stock AS (SELECT sku_id, ts, sum(on_hand) AS on_hand FROM inventory \
                              GROUP BY sku_id, ts), \
               empty AS (SELECT sku_id, min(ts) AS seen FROM stock WHERE on_hand <= 0 \
                         GROUP BY sku_id) \
               SELECT CAST(e.sku_id AS VARCHAR) AS sku, \
                      CAST(max(o.ts) AS BIGINT) AS zero_at \
               FROM empty e JOIN orders o ON o.sku_id = e.sku_id AND o.ts <= e.seen \
               GROUP BY e.sku_id";
    let batches = runtime.block_on(db.sql(sql)).unwrap();
    let mut out = BTreeMap::new();
    for batch in batches {
        let skus = cast(batch.column(0), &DataType::Utf8).unwrap();
        let skus = skus.as_string::<i32>();
        let zero_at = batch.column(1).as_primitive::<Int64Type>();
        for row in 0..batch.num_rows() {
            let at = DateTime::from_timestamp_micros(zero_at.value(row)).unwrap();
            out.insert(skus.value(row).to_string(), at);
        }
    }
    out
}

/// Seeds from an environment variable: `1-20`, `1,4,9` or a mix; `default` otherwise.
fn seeds(variable: &str, default: RangeInclusive<u64>) -> Vec<u64> {
    let Ok(text) = std::env::var(variable) else {
        return default.collect();
    };
    let mut out = BTreeSet::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => out.extend(a.parse::<u64>().unwrap()..=b.parse::<u64>().unwrap()),
            None => {
                out.insert(part.parse::<u64>().unwrap());
            }
        }
    }
    out.into_iter().collect()
}

/// Replays every promo, two at a time (one per core).
fn replay_all(promos: Vec<(u64, IncidentSet)>) -> Vec<Outcome> {
    let queue = std::sync::Mutex::new(promos.into_iter().enumerate().collect::<Vec<_>>());
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().unwrap().pop();
                    let Some((index, (seed, incidents))) = next else {
                        break;
                    };
                    let outcome = replay(seed, incidents);
                    results.lock().unwrap().push((index, outcome));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, outcome)| outcome).collect()
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

#[test]
fn default_rules_catch_the_incidents_without_false_alarms() {
    let mut promos: Vec<(u64, IncidentSet)> = seeds("PROMODB_QUALITY_SEEDS", 1..=3)
        .into_iter()
        .map(|s| (s, IncidentSet::Default))
        .collect();
    promos.extend(
        seeds("PROMODB_QUALITY_CLEAN", 101..=101)
            .into_iter()
            .map(|s| (s, IncidentSet::None)),
    );
    let outcomes = replay_all(promos);

    let sum = |f: fn(&Outcome) -> usize| outcomes.iter().map(f).sum::<usize>();
    let (incidents, detected) = (sum(|o| o.incidents), sum(|o| o.detected));
    let (episodes, matched) = (sum(|o| o.episodes), sum(|o| o.matched));
    let (stock_outs, warned) = (sum(|o| o.stock_outs), sum(|o| o.stock_outs_warned));
    let (stock_right, stock_false) = (sum(|o| o.stock_right), sum(|o| o.stock_false.len()));
    let opening: Vec<&String> = outcomes.iter().flat_map(|o| &o.opening).collect();
    println!(
        "| promo | incidents detected | anomaly episodes | unexplained | stock-outs warned >= 30 min | stock warnings right / false / unjudged |"
    );
    println!("|---|---|---|---|---|---|");
    for o in &outcomes {
        println!(
            "| {} | {}/{} | {} | {} | {}/{} | {} / {} / {} |",
            o.name,
            o.detected,
            o.incidents,
            o.episodes,
            o.unexplained.len(),
            o.stock_outs_warned,
            o.stock_outs,
            o.stock_right,
            o.stock_false.len(),
            o.stock_unjudged
        );
        for text in &o.stock_false {
            println!("    false stock warning: {text}");
        }
        for text in &o.unexplained {
            println!("    unexplained: {text}");
        }
        for text in &o.missed {
            println!("    missed: {text}");
        }
        for (sku, lead) in o
            .stock_leads
            .iter()
            .filter(|(_, l)| !l.is_some_and(|m| m >= 30))
        {
            println!("    stock-out of sku {sku} warned {lead:?} min ahead");
            for text in o.stock_history.get(sku).into_iter().flatten() {
                println!("        {text}");
            }
        }
    }
    let mut delays: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (kind, minutes) in outcomes.iter().flat_map(|o| &o.delays) {
        delays.entry(kind).or_default().push(*minutes);
    }
    for (kind, mut minutes) in delays {
        minutes.sort_unstable();
        println!(
            "{kind}: detected after {} min (median), {} min (worst)",
            minutes[minutes.len() / 2],
            minutes[minutes.len() - 1]
        );
    }
    let leads: Vec<i64> = outcomes
        .iter()
        .flat_map(|o| o.stock_leads.iter().filter_map(|(_, l)| *l))
        .collect();
    println!(
        "recall {detected}/{incidents}, anomaly precision {matched}/{episodes}, \
         stock warning precision {stock_right}/{}, opening-hour alerts {}, \
         stock-outs warned >= 30 min ahead {warned}/{stock_outs} (median lead {} min)",
        stock_right + stock_false,
        opening.len(),
        promodb_median(&leads)
    );

    assert!(
        ratio(detected, incidents) >= 0.95,
        "recall {detected}/{incidents}"
    );
    assert!(
        ratio(matched, episodes) >= 0.90,
        "precision {matched}/{episodes}"
    );
    assert!(
        opening.is_empty(),
        "alerts in the opening hour: {opening:?}"
    );
    assert!(
        stock_outs > 0,
        "no SKU ran out: the stock-out criterion would be vacuous"
    );
    assert!(
        ratio(warned, stock_outs) >= 0.90,
        "stock-outs warned 30 minutes ahead: {warned}/{stock_outs}"
    );
}

fn promodb_median(values: &[i64]) -> i64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied().unwrap_or(0)
}
