//! Evaluating rules and keeping each instance's lifecycle.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::LogicalPlan;

use super::anomaly::{Detector, Firing, StockOutForecaster, StockOutRisk};
use super::event_log::{AlertEvent, EventLog, Transition};
use super::rule::{Rule, Source};
use super::rule_file::RuleFile;
use super::sink::{AlertSink, Route};
use crate::PromoDb;
use crate::error::{Error, Result};
use crate::query::{collect, tables_read};
use crate::schema::Table;

/// The alert engine of one database: its rules, their instances, and the sinks.
#[derive(Debug)]
pub struct Alerts {
    db: PromoDb,
    rules: Vec<PreparedRule>,
    /// (rule index, key) -> its live instance.
    instances: HashMap<(usize, String), Instance>,
    sinks: Vec<(Route, Arc<dyn AlertSink>)>,
    log: Arc<EventLog>,
    /// Rule name -> when an instance of it last resolved (for inhibition).
    last_resolved: HashMap<String, DateTime<Utc>>,
}

#[derive(Debug)]
struct PreparedRule {
    rule: Rule,
    /// The canonical tables the rule reads (through views too).
    tables: Vec<Table>,
    stats: RuleStats,
    evaluator: Evaluator,
}

/// How a rule's instances are found at each evaluation.
#[derive(Debug)]
enum Evaluator {
    /// The rows of a query planned once.
    Query(Box<PreparedQuery>),
    /// The firing keys of an anomaly model.
    Anomaly(Box<Detector>),
    /// The SKUs a stock-out forecast puts at risk.
    StockOut(Box<StockOutForecaster>),
}

#[derive(Debug)]
struct PreparedQuery {
    plan: LogicalPlan,
    columns: Vec<String>,
    keys: Vec<usize>,
    value: Option<usize>,
}

#[derive(Debug, Clone)]
struct Instance {
    firing: bool,
    since: DateTime<Utc>,
    /// When a firing instance's row was last seen missing first (resolve hold).
    absent_since: Option<DateTime<Utc>>,
    notified: Option<DateTime<Utc>>,
    acknowledged: bool,
    value: Option<f64>,
    message: String,
}

/// What evaluating one rule has cost so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleStats {
    /// Times its query ran.
    pub evaluations: u64,
    /// Wall time spent running its query and reading the result.
    pub total_time: std::time::Duration,
    /// Instances (distinct keys) in its last result.
    pub last_rows: usize,
}

/// One row of a rule's result.
struct Hit {
    value: Option<f64>,
    message: String,
}

impl Alerts {
    /// An engine for `db`, which gets the `alert_events` table (one engine per database).
    pub fn new(db: &PromoDb) -> Result<Alerts> {
        let log = Arc::new(EventLog::new());
        db.session()
            .register_table("alert_events", Arc::clone(&log) as _)
            .map_err(|e| {
                Error::InvalidArgument(format!("cannot create the alert_events table: {e}"))
            })?;
        Ok(Alerts {
            db: db.clone(),
            rules: Vec::new(),
            instances: HashMap::new(),
            sinks: Vec::new(),
            log,
            last_resolved: HashMap::new(),
        })
    }

    /// Adds a rule, planning its queries once (and, for an anomaly rule, reading its
    /// baseline). A query that does not plan, or key or value columns it does not return,
    /// are errors naming the rule.
    pub async fn add(&mut self, rule: Rule) -> Result<()> {
        if self.rules.iter().any(|r| r.rule.name == rule.name) {
            return Err(Error::InvalidArgument(format!(
                "alert rule '{}' already exists",
                rule.name
            )));
        }
        let (evaluator, tables) = match &rule.source {
            Source::Query(query) => {
                let (prepared, tables) = self.prepare_query(&rule, query).await?;
                (Evaluator::Query(Box::new(prepared)), tables)
            }
            Source::Anomaly(anomaly) => {
                let detector = Detector::prepare(&self.db, &rule.name, (**anomaly).clone()).await?;
                let tables = detector.tables();
                (Evaluator::Anomaly(Box::new(detector)), tables)
            }
            Source::StockOutByCurve { calendar, lead } => {
                let forecaster =
                    StockOutForecaster::prepare(&self.db, &rule.name, *calendar, *lead).await?;
                let tables = forecaster.tables();
                (Evaluator::StockOut(Box::new(forecaster)), tables)
            }
        };
        self.rules.push(PreparedRule {
            rule,
            tables,
            stats: RuleStats::default(),
            evaluator,
        });
        Ok(())
    }

    async fn prepare_query(&self, rule: &Rule, query: &str) -> Result<(PreparedQuery, Vec<Table>)> {
        let frame = self.db.dataframe(query).await.map_err(|e| {
            Error::InvalidArgument(format!("alert rule '{}': query: {e}", rule.name))
        })?;
        let schema = frame.schema().as_arrow().clone();
        let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let find = |name: &str, field: &str| {
            columns.iter().position(|c| c == name).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "alert rule '{}': {field} '{name}' is not a column of its query (columns: {})",
                    rule.name,
                    columns.join(", ")
                ))
            })
        };
        let value = rule
            .value
            .as_deref()
            .map(|v| find(v, "value"))
            .transpose()?;
        if let Some(v) = value {
            let data_type = schema.field(v).data_type();
            if !(data_type.is_numeric() || matches!(data_type, DataType::Decimal128(..))) {
                return Err(Error::InvalidArgument(format!(
                    "alert rule '{}': value '{}' must be numeric, not {data_type}",
                    rule.name, columns[v]
                )));
            }
        }
        let keys = if rule.keys.is_empty() {
            (0..columns.len()).filter(|i| Some(*i) != value).collect()
        } else {
            rule.keys
                .iter()
                .map(|k| find(k, "key"))
                .collect::<Result<_>>()?
        };
        let tables = tables_read(frame.logical_plan());
        let prepared = PreparedQuery {
            plan: frame.logical_plan().clone(),
            columns,
            keys,
            value,
        };
        Ok((prepared, tables))
    }

    /// Sends the events `route` matches to `sink`.
    pub fn add_sink(&mut self, route: Route, sink: impl AlertSink + 'static) {
        self.sinks.push((route, Arc::new(sink)));
    }

    /// Adds the rules and sinks of a TOML rule file (see [`RuleFile`]): all of them, or
    /// none if one is malformed or does not plan (the error names the rule and field).
    pub async fn add_file(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let file = RuleFile::load(path.as_ref())?;
        let before = self.rules.len();
        for rule in file.rules {
            if let Err(error) = self.add(rule).await {
                self.rules.truncate(before);
                return Err(error);
            }
        }
        self.sinks.extend(file.sinks);
        Ok(())
    }

    /// Runs every rule over the data as it is now and moves every instance along, with
    /// `now` as the time of the evaluation (event time: a replay passes its clock).
    /// Returns the transitions, which are also in `alert_events` and given to the sinks.
    /// A failing sink does not stop the others; its error is returned after all ran.
    pub async fn evaluate(&mut self, now: DateTime<Utc>) -> Result<Vec<AlertEvent>> {
        self.evaluate_selected(now, |_| true).await
    }

    /// Like [`Alerts::evaluate`], for the rules whose tables `select` picks.
    pub(crate) async fn evaluate_selected(
        &mut self,
        now: DateTime<Utc>,
        select: impl Fn(&[Table]) -> bool,
    ) -> Result<Vec<AlertEvent>> {
        let mut events = Vec::new();
        for index in 0..self.rules.len() {
            if !select(&self.rules[index].tables) {
                continue;
            }
            let started = Instant::now();
            let hits = self.run_rule(index, now).await?;
            let stats = &mut self.rules[index].stats;
            stats.evaluations += 1;
            stats.total_time += started.elapsed();
            stats.last_rows = hits.len();
            self.advance(index, hits, now, &mut events);
        }
        self.publish(&events)?;
        Ok(events)
    }

    /// Records that `by` took on the firing instance `key` of rule `rule` at `at`: it is
    /// not repeated any more (it still resolves).
    pub fn acknowledge(
        &mut self,
        rule: &str,
        key: &str,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<AlertEvent> {
        let index = self
            .rules
            .iter()
            .position(|r| r.rule.name == rule)
            .ok_or_else(|| Error::InvalidArgument(format!("no alert rule '{rule}'")))?;
        let instance = self
            .instances
            .get_mut(&(index, key.to_string()))
            .filter(|i| i.firing)
            .ok_or_else(|| {
                Error::InvalidArgument(format!("rule '{rule}' has no firing alert '{key}'"))
            })?;
        instance.acknowledged = true;
        let mut event = event(
            &self.rules[index].rule,
            key,
            instance,
            Transition::Acknowledged,
            at,
        );
        event.actor = Some(by.to_string());
        self.publish(std::slice::from_ref(&event))?;
        Ok(event)
    }

    /// The canonical tables rule `rule` reads (through views too): appends to them make
    /// an [`super::AlertRunner`] evaluate it. `None` if there is no such rule.
    pub fn tables_read(&self, rule: &str) -> Option<&[Table]> {
        self.rules
            .iter()
            .find(|r| r.rule.name == rule)
            .map(|r| r.tables.as_slice())
    }

    /// How often each rule was evaluated and what it cost, in the order rules were added.
    pub fn stats(&self) -> Vec<(String, RuleStats)> {
        self.rules
            .iter()
            .map(|r| (r.rule.name.clone(), r.stats.clone()))
            .collect()
    }

    /// The database the rules run on.
    pub(crate) fn db(&self) -> &PromoDb {
        &self.db
    }

    /// The instances firing now, as (rule, key), sorted.
    pub fn firing(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .instances
            .iter()
            .filter(|(_, i)| i.firing)
            .map(|((r, key), _)| (self.rules[*r].rule.name.clone(), key.clone()))
            .collect();
        out.sort();
        out
    }

    async fn run_rule(
        &mut self,
        index: usize,
        now: DateTime<Utc>,
    ) -> Result<BTreeMap<String, Hit>> {
        let prepared = &mut self.rules[index];
        let rule = &prepared.rule;
        let mut hits = BTreeMap::new();
        match &mut prepared.evaluator {
            Evaluator::Query(query) => {
                let state = self.db.session().state();
                let batches = collect(DataFrame::new(state, query.plan.clone()))
                    .await
                    .map_err(|e| Error::Sql(format!("alert rule '{}': {e}", rule.name)))?;
                for batch in &batches {
                    collect_hits(rule, query, batch, &mut hits)?;
                }
            }
            Evaluator::Anomaly(detector) => {
                let firing = detector
                    .evaluate(&self.db, now)
                    .await
                    .map_err(|e| Error::Sql(format!("alert rule '{}': {e}", rule.name)))?;
                for (key, firing) in firing {
                    let hit = anomaly_hit(rule, &key, &firing);
                    hits.insert(key, hit);
                }
            }
            Evaluator::StockOut(forecaster) => {
                let risks = forecaster
                    .evaluate(&self.db, now)
                    .await
                    .map_err(|e| Error::Sql(format!("alert rule '{}': {e}", rule.name)))?;
                for (sku, risk) in risks {
                    let hit = stock_out_hit(rule, &sku, &risk);
                    hits.insert(sku, hit);
                }
            }
        }
        Ok(hits)
    }

    fn advance(
        &mut self,
        index: usize,
        mut hits: BTreeMap<String, Hit>,
        now: DateTime<Utc>,
        events: &mut Vec<AlertEvent>,
    ) {
        let inhibited = self.inhibited(index, now);
        let rule = &self.rules[index].rule;
        // Instances whose row is gone.
        let gone: Vec<String> = self
            .instances
            .keys()
            .filter(|(r, key)| *r == index && !hits.contains_key(key))
            .map(|(_, key)| key.clone())
            .collect();
        for key in gone {
            let slot = (index, key.clone());
            let Some(instance) = self.instances.get_mut(&slot) else {
                continue;
            };
            if !instance.firing {
                self.instances.remove(&slot);
                continue;
            }
            let absent_since = *instance.absent_since.get_or_insert(now);
            if now - absent_since >= rule.resolve_hold {
                let instance = self.instances.remove(&slot).expect("present");
                events.push(event(rule, &key, &instance, Transition::Resolved, now));
                self.last_resolved.insert(rule.name.clone(), now);
            }
        }
        for (key, hit) in std::mem::take(&mut hits) {
            let slot = (index, key.clone());
            let instance = self.instances.entry(slot).or_insert_with(|| {
                let fresh = Instance {
                    firing: false,
                    since: now,
                    absent_since: None,
                    notified: None,
                    acknowledged: false,
                    value: hit.value,
                    message: hit.message.clone(),
                };
                events.push(event(rule, &key, &fresh, Transition::Pending, now));
                fresh
            });
            instance.value = hit.value;
            instance.message = hit.message;
            instance.absent_since = None;
            if !instance.firing {
                if now - instance.since >= rule.hold && !inhibited {
                    instance.firing = true;
                    instance.notified = Some(now);
                    events.push(event(rule, &key, instance, Transition::Firing, now));
                }
            } else if let (Some(repeat), Some(last), false) =
                (rule.repeat, instance.notified, instance.acknowledged)
                && now - last >= repeat
            {
                instance.notified = Some(now);
                events.push(event(rule, &key, instance, Transition::Repeat, now));
            }
        }
    }

    /// Whether an inhibitor of rule `index` fires now or resolved within its hold.
    fn inhibited(&self, index: usize, now: DateTime<Utc>) -> bool {
        let rule = &self.rules[index].rule;
        let is_inhibitor = |r: usize| rule.inhibitors.contains(&self.rules[r].rule.name);
        let firing = self
            .instances
            .iter()
            .any(|((r, _), instance)| instance.firing && is_inhibitor(*r));
        let recent = rule.inhibitors.iter().any(|name| {
            self.last_resolved
                .get(name)
                .is_some_and(|at| now - *at < rule.inhibit_hold)
        });
        firing || recent
    }

    fn publish(&self, events: &[AlertEvent]) -> Result<()> {
        self.log.append(events)?;
        let mut first_error = None;
        for event in events.iter().filter(|e| e.transition.notifies()) {
            for (route, sink) in &self.sinks {
                if route.matches(event)
                    && let Err(e) = sink.deliver(event)
                {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

fn event(
    rule: &Rule,
    key: &str,
    instance: &Instance,
    transition: Transition,
    at: DateTime<Utc>,
) -> AlertEvent {
    AlertEvent {
        at,
        rule: rule.name.clone(),
        key: key.to_string(),
        transition,
        severity: rule.severity,
        owner: rule.owner.clone(),
        value: instance.value,
        message: instance.message.clone(),
        actor: None,
    }
}

/// A firing anomaly's value (the actual count) and message.
fn anomaly_hit(rule: &Rule, key: &str, firing: &Firing) -> Hit {
    let score = &firing.score;
    // A keyless series (all traffic) has no key to name.
    let default = if key.is_empty() {
        "{rule}: {direction}: {actual} in {interval} min, {expected} expected (z {z})"
    } else {
        "{rule}: {direction} {key}: {actual} in {interval} min, {expected} expected (z {z})"
    };
    let message = fill(
        rule.message.as_deref().unwrap_or(default),
        &[
            ("rule", rule.name.clone()),
            ("key", key.to_string()),
            ("direction", firing.direction.to_string()),
            ("actual", format!("{:.0}", score.actual)),
            ("expected", format!("{:.1}", score.expected)),
            ("z", format!("{:.1}", score.z)),
            ("interval", score.interval.to_string()),
        ],
    );
    Hit {
        value: Some(score.actual),
        message,
    }
}

/// A stock-out risk's value (minutes left) and message.
fn stock_out_hit(rule: &Rule, sku: &str, risk: &StockOutRisk) -> Hit {
    let message = fill(
        rule.message.as_deref().unwrap_or("{rule}: {key}"),
        &[
            ("rule", rule.name.clone()),
            ("key", sku.to_string()),
            ("value", format!("{:.1}", risk.minutes)),
            ("on_hand", format!("{:.0}", risk.on_hand)),
        ],
    );
    Hit {
        value: Some(risk.minutes),
        message,
    }
}

/// `template` with each `{name}` replaced by its value.
fn fill(template: &str, values: &[(&str, String)]) -> String {
    values
        .iter()
        .fold(template.to_string(), |text, (name, value)| {
            text.replace(&format!("{{{name}}}"), value)
        })
}

/// Each row's key, value and message; the first row of a key wins (dedup).
fn collect_hits(
    rule: &Rule,
    prepared: &PreparedQuery,
    batch: &RecordBatch,
    hits: &mut BTreeMap<String, Hit>,
) -> Result<()> {
    let values = match prepared.value {
        Some(v) => Some(cast(batch.column(v), &DataType::Float64)?),
        None => None,
    };
    for row in 0..batch.num_rows() {
        let cell = |i: usize| -> Result<String> {
            let column = batch.column(i);
            if column.is_null(row) {
                return Ok("NULL".to_string());
            }
            if let Some(floats) = column.as_primitive_opt::<Float64Type>() {
                return Ok(format!("{:.1}", floats.value(row)));
            }
            Ok(array_value_to_string(column, row)?)
        };
        let key = prepared
            .keys
            .iter()
            .map(|&i| cell(i))
            .collect::<Result<Vec<_>>>()?
            .join(",");
        if hits.contains_key(&key) {
            continue;
        }
        let value = values
            .as_ref()
            .map(|v| v.as_primitive::<Float64Type>())
            .filter(|v| v.is_valid(row))
            .map(|v| v.value(row));
        let message = match &rule.message {
            Some(template) => {
                let mut text = template.replace("{rule}", &rule.name);
                text = text.replace("{key}", &key);
                for (i, name) in prepared.columns.iter().enumerate() {
                    let placeholder = format!("{{{name}}}");
                    if text.contains(&placeholder) {
                        text = text.replace(&placeholder, &cell(i)?);
                    }
                }
                text
            }
            None => format!("{}: {key}", rule.name),
        };
        hits.insert(key, Hit { value, message });
    }
    Ok(())
}
