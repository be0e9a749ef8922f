//! Aggregations grouped by integer-like and text keys run on promodb's group tables and
//! give exactly what DataFusion's own `AggregateExec` gives, for every such key type,
//! several keys, NULL keys, `FILTER`, DISTINCT, many batches and any number of
//! partitions.

use std::sync::Arc;

use promodb::PromoDb;
use promodb::arrow::array::{
    ArrayRef, Date32Array, Decimal128Array, Int32Array, Int64Array, LargeStringArray, RecordBatch,
    StringArray, StringViewArray, TimestampMicrosecondArray, UInt64Array,
};
use promodb::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use promodb::datafusion::datasource::MemTable;
use promodb::datafusion::prelude::{SessionConfig, SessionContext};

use crate::common::{query, table};

/// A small deterministic generator (64-bit LCG), so the data needs no extra crate.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

/// 40 batches of 1,000 rows: keys of eight types with ~3,000 distinct values each (so the
/// group tables grow several times) and NULLs, and values to aggregate with NULLs. The
/// text keys mix strings of 0-12 bytes (held in their views) with longer ones, some
/// sharing their first 12 bytes.
pub(crate) fn batches() -> Vec<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k_i64", DataType::Int64, true),
        Field::new("k_i32", DataType::Int32, true),
        Field::new("k_u64", DataType::UInt64, true),
        Field::new("k_date", DataType::Date32, true),
        Field::new(
            "k_ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("v", DataType::Int64, true),
        Field::new("amount", DataType::Decimal128(12, 2), true),
        Field::new("s", DataType::Utf8, true),
        Field::new("k_view", DataType::Utf8View, true),
        Field::new("k_large", DataType::LargeUtf8, true),
        Field::new("t_view", DataType::Utf8View, true),
        Field::new("t_large", DataType::LargeUtf8, true),
    ]));
    let mut random = Lcg(42);
    (0..40)
        .map(|_| {
            let mut keys = Vec::new();
            for _ in 0..1000 {
                let key = random.next(3000) as i64 - 1500;
                keys.push((random.next(50) != 0).then_some(key));
            }
            let values: Vec<Option<i64>> = (0..1000)
                .map(|_| (random.next(10) != 0).then(|| random.next(200) as i64 - 50))
                .collect();
            let columns: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from_iter(
                    keys.iter().map(|k| k.map(|k| k << 40)),
                )),
                Arc::new(Int32Array::from_iter(
                    keys.iter().map(|k| k.map(|k| k as i32)),
                )),
                Arc::new(UInt64Array::from_iter(
                    keys.iter().map(|k| k.map(|k| u64::MAX - k as u64)),
                )),
                Arc::new(Date32Array::from_iter(
                    keys.iter().map(|k| k.map(|k| 20_000 + k as i32)),
                )),
                Arc::new(
                    TimestampMicrosecondArray::from_iter(
                        keys.iter()
                            .map(|k| k.map(|k| 1_794_355_200_000_000 + k * 1_000_000)),
                    )
                    .with_timezone("UTC"),
                ),
                Arc::new(Int64Array::from(values.clone())),
                Arc::new(
                    Decimal128Array::from_iter(
                        values.iter().map(|v| v.map(|v| i128::from(v) * 37)),
                    )
                    .with_precision_and_scale(12, 2)
                    .expect("decimal"),
                ),
                Arc::new(StringArray::from_iter(
                    values.iter().map(|v| v.map(|v| format!("s{}", v % 13))),
                )),
                Arc::new(StringViewArray::from_iter(
                    keys.iter().map(|k| k.map(text_key)),
                )),
                Arc::new(LargeStringArray::from_iter(
                    keys.iter().map(|k| k.map(text_key)),
                )),
                Arc::new(StringViewArray::from_iter(
                    values.iter().map(|v| v.map(event_text)),
                )),
                Arc::new(LargeStringArray::from_iter(
                    values.iter().map(|v| v.map(event_text)),
                )),
            ];
            RecordBatch::try_new(Arc::clone(&schema), columns).expect("batch")
        })
        .collect()
}

/// A text key of `key`: empty, short (inline in a string view), exactly 12 and 13
/// bytes, or long with a shared 12-byte prefix.
fn text_key(key: i64) -> String {
    match key.rem_euclid(5) {
        0 if key == 0 => String::new(),
        0 | 1 => format!("c{key}"),
        2 => format!("{key:0>12}"),
        3 => format!("{key:0>13}"),
        _ => format!("promo-channel-{key}"),
    }
}

/// A text of value `v`, as funnel steps compare with: empty, short ones of one length
/// ("e0".."e2"; "view" and "cart"), 12 bytes, 13 bytes sharing their first 4 with the
/// 12-byte ones, and long ones sharing a prefix.
fn event_text(v: i64) -> String {
    let variant = v.div_euclid(6);
    match v.rem_euclid(6) {
        0 => String::new(),
        1 => format!("e{}", variant.rem_euclid(3)),
        2 => format!("{:0>12}", variant.rem_euclid(4)),
        3 => format!("{:0>13}", variant.rem_euclid(4)),
        4 => format!("promo-channel-{}", variant.rem_euclid(3)),
        _ => if variant % 2 == 0 { "view" } else { "cart" }.to_string(),
    }
}

/// A database with `partitions` partitions and the batches as table `t`.
pub(crate) fn promodb_with(partitions: usize, batches: &[RecordBatch]) -> PromoDb {
    let db = PromoDb::builder()
        .with_target_partitions(partitions)
        .in_memory()
        .expect("db");
    db.register_batches("t", batches.to_vec())
        .expect("register");
    db
}

pub(crate) fn datafusion_alone(partitions: usize, batches: &[RecordBatch]) -> SessionContext {
    let ctx =
        SessionContext::new_with_config(SessionConfig::new().with_target_partitions(partitions));
    let spread: Vec<Vec<RecordBatch>> = (0..partitions)
        .map(|p| {
            batches
                .iter()
                .skip(p)
                .step_by(partitions)
                .cloned()
                .collect()
        })
        .collect();
    let table = MemTable::try_new(batches[0].schema(), spread).expect("table");
    ctx.register_table("t", Arc::new(table)).expect("register");
    ctx
}

pub(crate) fn run(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(async { ctx.sql(sql).await?.collect().await })
        .expect(sql)
}

fn aggregation(key: &str) -> String {
    format!(
        "SELECT {key} AS k, count(*) AS n, count(v) AS nv, sum(v) AS sv, min(v) AS lo, \
                max(amount) AS hi, sum(amount) FILTER (WHERE v > 0) AS paid, avg(v) AS mean, \
                count(DISTINCT s) AS kinds, max(s) AS last_s \
         FROM t GROUP BY {key} ORDER BY k NULLS FIRST"
    )
}

#[test]
fn keyed_aggregations_match_datafusions_own() {
    let batches = batches();
    for partitions in [1, 2, 3] {
        let db = promodb_with(partitions, &batches);
        let plain = datafusion_alone(partitions, &batches);
        let keys = [
            ("k_i64", 2_900),
            ("k_i32", 2_900),
            ("k_u64", 2_900),
            ("k_date", 2_900),
            ("k_ts", 2_900),
            ("k_i32 % 7", 13),
            ("k_i64 + 1", 2_900),
            ("k_view", 2_900),
            ("k_large", 2_900),
            ("s", 13),
            ("upper(k_view)", 2_900),
        ];
        for (key, groups) in keys {
            let sql = aggregation(key);
            let plan = table(&query(&db, &format!("EXPLAIN {sql}")).expect("explain"));
            assert!(
                plan.contains("KeyedAggregateExec"),
                "{key}, {partitions} partitions:\n{plan}"
            );
            let ours = query(&db, &sql).expect(&sql);
            let theirs = run(&plain, &sql);
            assert_eq!(ours[0].schema(), theirs[0].schema(), "{key}");
            let expected = table(&theirs);
            assert_eq!(table(&ours), expected, "{key}, {partitions} partitions");
            assert!(expected.lines().count() > groups + 4, "{key}: {expected}");
        }
    }
}

#[test]
fn aggregations_by_several_keys_match_datafusions_own() {
    let batches = batches();
    for partitions in [1, 2, 3] {
        let db = promodb_with(partitions, &batches);
        let plain = datafusion_alone(partitions, &batches);
        // Text and integer keys in either order, NULLs in every key, and a key that
        // splits no group further (`k_date` follows from `k_view`).
        for keys in [
            vec!["k_i64", "s"],
            vec!["s", "k_i32 % 7"],
            vec!["k_view", "s", "k_date"],
            vec!["s", "k_large", "k_ts"],
        ] {
            let names: Vec<String> = (0..keys.len()).map(|i| format!("k{i}")).collect();
            let select: Vec<String> = keys
                .iter()
                .zip(&names)
                .map(|(key, name)| format!("{key} AS {name}"))
                .collect();
            let order: Vec<String> = names.iter().map(|n| format!("{n} NULLS FIRST")).collect();
            let sql = format!(
                "SELECT {}, count(*) AS n, sum(v) AS sv, max(amount) AS hi, \
                        count(DISTINCT v) AS kinds, min(t_view) AS first_t \
                 FROM t GROUP BY {} ORDER BY {}",
                select.join(", "),
                keys.join(", "),
                order.join(", ")
            );
            let plan = table(&query(&db, &format!("EXPLAIN {sql}")).expect("explain"));
            assert!(plan.contains("KeyedAggregateExec"), "{keys:?}:\n{plan}");
            let ours = query(&db, &sql).expect(&sql);
            let theirs = run(&plain, &sql);
            assert_eq!(ours[0].schema(), theirs[0].schema(), "{keys:?}");
            let expected = table(&theirs);
            assert_eq!(table(&ours), expected, "{keys:?}, {partitions} partitions");
            assert!(expected.lines().count() > 40, "{keys:?}: {expected}");
        }
        // A grouping set's final aggregation is grouped by its keys and the grouping id
        // (its partial aggregation stays with DataFusion). NULL keys and subtotals tie
        // on the keys: the grouping flags order them.
        let rollup = "SELECT s, k_i32 % 7 AS k, grouping(s) AS gs, grouping(k_i32 % 7) AS gk, \
                             count(*) AS n, sum(v) AS sv FROM t \
                      GROUP BY ROLLUP (s, k_i32 % 7) \
                      ORDER BY s NULLS FIRST, k NULLS FIRST, gs, gk";
        if partitions > 1 {
            let plan = table(&query(&db, &format!("EXPLAIN {rollup}")).expect("explain"));
            assert!(
                plan.contains("KeyedAggregateExec: mode=FinalPartitioned"),
                "{plan}"
            );
            assert!(plan.contains("AggregateExec: mode=Partial"), "{plan}");
        }
        let expected = table(&run(&plain, rollup));
        assert_eq!(table(&query(&db, rollup).expect(rollup)), expected);
        assert!(expected.lines().count() > 100, "{expected}");
    }
}

#[test]
fn other_aggregations_stay_with_datafusion() {
    let db = PromoDb::in_memory().expect("db");
    db.register_batches("t", batches()).expect("register");
    for sql in [
        // An ordered aggregate, no key, a float key (alone or beside another key).
        "SELECT k_i64, CAST(v AS DOUBLE), count(*) FROM t GROUP BY k_i64, CAST(v AS DOUBLE)",
        "SELECT k_i32, array_agg(v ORDER BY v) FROM t GROUP BY k_i32",
        "SELECT count(*) FROM t",
        "SELECT CAST(v AS DOUBLE), count(*) FROM t GROUP BY CAST(v AS DOUBLE)",
    ] {
        let plan = table(&query(&db, &format!("EXPLAIN {sql}")).expect("explain"));
        assert!(!plan.contains("KeyedAggregateExec"), "{sql}:\n{plan}");
        query(&db, sql).expect(sql);
    }
}

#[test]
fn an_empty_input_gives_no_groups() {
    let db = PromoDb::in_memory().expect("db");
    db.register_batches("t", batches()).expect("register");
    let sql = "SELECT k_i64, count(*) FROM t WHERE v > 1000 GROUP BY k_i64";
    let plan = table(&query(&db, &format!("EXPLAIN {sql}")).expect("explain"));
    assert!(plan.contains("KeyedAggregateExec"), "{plan}");
    let rows: usize = query(&db, sql)
        .expect(sql)
        .iter()
        .map(RecordBatch::num_rows)
        .sum();
    assert_eq!(rows, 0);
}

/// Funnels keep every event in their state, so they skip the partial aggregation. Beside
/// other aggregates, or by a text key, the raw rows are repartitioned by key and
/// aggregated once, with the same result as one partition gives.
#[test]
fn funnels_are_aggregated_in_one_stage_after_repartitioning_the_rows() {
    let batches = batches();
    let databases: Vec<PromoDb> = [1, 2, 3]
        .into_iter()
        .map(|partitions| promodb_with(partitions, &batches))
        .collect();
    for key in ["k_i64", "s"] {
        let sql = format!(
            "SELECT {key} AS k, count(*) AS n, \
                    window_funnel(INTERVAL '1 hour', k_ts, v > 0, v > 50, v > 100) AS level \
             FROM t GROUP BY {key} ORDER BY k NULLS FIRST"
        );
        let expected = table(&query(&databases[0], &sql).expect(&sql));
        assert!(expected.lines().count() > 10, "{expected}");
        for db in &databases[1..] {
            let plan = table(&query(db, &format!("EXPLAIN {sql}")).expect("explain"));
            assert!(plan.contains("mode=SinglePartitioned"), "{key}:\n{plan}");
            assert!(!plan.contains("mode=Partial"), "{key}:\n{plan}");
            assert!(plan.contains("KeyedAggregateExec"), "{key}:\n{plan}");
            assert_eq!(table(&query(db, &sql).expect(&sql)), expected, "{key}");
        }
    }
}

/// An aggregate that reads its rows in order (`array_agg(... ORDER BY ...)`) beside a
/// funnel keeps the two-stage plan: its sorted input must not be repartitioned.
#[test]
fn a_funnel_beside_an_ordered_aggregate_keeps_its_sorted_input() {
    let batches = batches();
    let sql = "SELECT k_i64 AS k, \
                      window_funnel(INTERVAL '1 hour', k_ts, v > 0, v > 50) AS level, \
                      array_agg(v ORDER BY v, s) AS values, nth_value(s, 2 ORDER BY v, s) AS second \
               FROM t GROUP BY k_i64 ORDER BY k NULLS FIRST";
    let results: Vec<String> = [1, 3]
        .into_iter()
        .map(|partitions| {
            let db = promodb_with(partitions, &batches);
            let plan = table(&query(&db, &format!("EXPLAIN {sql}")).expect("explain"));
            assert!(!plan.contains("mode=SinglePartitioned"), "{plan}");
            table(&query(&db, sql).expect(sql))
        })
        .collect();
    assert!(results[0].lines().count() > 2_900, "{}", results[0]);
    assert_eq!(results[1], results[0]);
}

/// The event-sequence aggregates alone by an integer-like key, each with NULL keys, NULL
/// arguments and a FILTER. `ts` is 1000 k + v seconds, so rows tie only when they have
/// the same k and v, and so meet the same conditions: with ties kept in input order, no
/// result depends on how the rows are spread over partitions.
fn event_aggregations() -> Vec<String> {
    let seconds = "(CAST(k_ts AS BIGINT) - 1794355200000000) / 1000 + v";
    let ts = format!("to_timestamp_seconds({seconds})");
    let aggregates = [
        format!("window_funnel(INTERVAL '1 minute', {ts}, v > 0, v > 50, v > 100)"),
        format!(
            "window_funnel(INTERVAL '1 minute', {ts}, v > 0, v > 50, v > 100) \
             FILTER (WHERE s <> 'c3')"
        ),
        format!("window_funnel(60, 'strict_order, strict_increase', {seconds}, v > 0, v > 50)"),
        format!("window_funnel_times(INTERVAL '30 seconds', {ts}, v > 0, v > 50, v > 100)"),
        format!("sequence_match('(?1)(?2)', {ts}, v > 0, v > 50)"),
        format!("sequence_count('(?1)(?t<80)(?2)', {seconds}, v < 0, v > 50)"),
        // Steps that compare one text column with literals: short, empty, 12 bytes, long,
        // repeated, on either side, several of one length; a column of each string type.
        format!("window_funnel(INTERVAL '1 minute', {ts}, s = 's1', s = 's2', 's3' = s, s = 's1')"),
        format!(
            "window_funnel(INTERVAL '1 minute', {ts}, t_view = 'view', \
             t_view = '000000000002', 'promo-channel-1' = t_view, t_view = '', \
             t_view = '0000000000001')"
        ),
        format!(
            "window_funnel(INTERVAL '1 minute', {ts}, t_view = 'e1', t_view = 'e2', \
             t_view = 'view', t_view = 'cart')"
        ),
        format!("sequence_count('(?1)(?2)', {ts}, t_large = 'view', t_large = '0000000000003')"),
    ];
    let keys = ["k_i64", "k_i32", "k_u64", "k_date", "k_ts", "k_i32 % 7"];
    keys.iter()
        .flat_map(|key| {
            aggregates.iter().map(move |aggregate| {
                format!("SELECT {key} AS k, {aggregate} AS a FROM t GROUP BY {key} ORDER BY k NULLS FIRST")
            })
        })
        .collect()
}

/// One event aggregate by an integer-like key runs in a `BucketedAggregateExec`, which
/// deals the raw rows to partitions itself, and gives what one partition gives.
#[test]
fn event_aggregates_by_an_integer_key_deal_their_rows_in_buckets() {
    let batches = batches();
    let one = promodb_with(1, &batches);
    let databases = [promodb_with(2, &batches), promodb_with(3, &batches)];
    for sql in event_aggregations() {
        let expected = table(&query(&one, &sql).expect(&sql));
        assert!(expected.lines().count() > 10, "{sql}: {expected}");
        // Each aggregate tells groups apart (at least two values besides NULL), by
        // every key but `k_i32 % 7`, whose 14 groups of ~3,000 rows each reach the
        // highest level.
        let values: std::collections::HashSet<&str> = expected
            .lines()
            .skip(3)
            .filter_map(|line| line.split('|').nth(2).map(str::trim))
            .filter(|value| !value.is_empty())
            .collect();
        assert!(values.len() >= 2 || sql.contains('%'), "{sql}: {expected}");
        for db in &databases {
            let plan = table(&query(db, &format!("EXPLAIN {sql}")).expect("explain"));
            assert!(plan.contains("BucketedAggregateExec"), "{sql}:\n{plan}");
            assert!(
                !plan.contains("RepartitionExec: partitioning=Hash([k_"),
                "{sql}:\n{plan}"
            );
            assert_eq!(table(&query(db, &sql).expect(&sql)), expected, "{sql}");
        }
    }
}

/// Rows are dealt narrow (the key as an offset) while every key lies near the first
/// ones, and widened when a batch brings a key out of reach. Two layouts of the
/// batches, which are dealt round robin to the input partitions:
/// - far keys only in the last batch: one partition widens mid-deal, the others after;
/// - a first batch of NULL keys only, then batches of keys near 1,000 and near 2^40 in
///   turn: the partition that sees the other range first widens at once.
///
/// Each partition count gives what one partition (no deal) gives, and `EXPLAIN
/// ANALYZE` counts the widened partitions.
#[test]
fn keys_out_of_the_narrow_reach_widen_the_dealt_rows() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, true),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("v", DataType::Int64, true),
    ]));
    const FAR: [i64; 5] = [i64::MIN, i64::MAX, 1 << 40, -(1 << 40), 3_000_000_000];
    /// The key of a row of a batch, drawn from the generator.
    type KeyOf = fn(&mut Lcg, usize, usize) -> Option<i64>;
    let layouts: [(&str, KeyOf); 2] = [
        ("far keys last", |random, batch, row| {
            match random.next(40) {
                0 => None,
                1..=4 if batch == 11 => Some(FAR[row % FAR.len()]),
                _ => Some(random.next(300) as i64 + 1_000),
            }
        }),
        ("two ranges", |random, batch, _| {
            match (batch, random.next(40)) {
                (0, _) | (_, 0) => None,
                (batch, _) if batch % 2 == 1 => Some((1 << 40) + random.next(300) as i64),
                _ => Some(random.next(300) as i64 + 1_000),
            }
        }),
    ];
    for (layout, key_of) in layouts {
        let mut random = Lcg(7);
        let batches: Vec<RecordBatch> = (0..12)
            .map(|batch| {
                let keys: Vec<Option<i64>> = (0..500)
                    .map(|row| key_of(&mut random, batch, row))
                    .collect();
                let ts = (0..500).map(|row| {
                    Some(1_794_355_200_000_000 + (batch * 500 + row) as i64 * 1_000_000)
                });
                let values =
                    (0..500).map(|_| (random.next(20) != 0).then(|| random.next(4) as i64));
                let columns: Vec<ArrayRef> = vec![
                    Arc::new(Int64Array::from(keys)),
                    Arc::new(TimestampMicrosecondArray::from_iter(ts).with_timezone("UTC")),
                    Arc::new(Int64Array::from_iter(values)),
                ];
                RecordBatch::try_new(Arc::clone(&schema), columns).expect("batch")
            })
            .collect();
        let sqls = [
            "SELECT k, window_funnel(INTERVAL '20 minutes', ts, v = 1, v = 2, v = 3) AS a \
             FROM t GROUP BY k ORDER BY k NULLS FIRST",
            "SELECT k, sequence_count('(?1)(?2)', ts, v = 1, v = 2) AS a \
             FROM t GROUP BY k ORDER BY k NULLS FIRST",
        ];
        let one = promodb_with(1, &batches);
        for sql in sqls {
            let expected = table(&query(&one, sql).expect(sql));
            let reached = if layout == "two ranges" {
                vec![format!("| {} ", (1i64 << 40) + 7), "| 1007 ".to_string()]
            } else {
                FAR.iter()
                    .map(|k| format!("| {k} "))
                    .chain(["| 1007 ".into()])
                    .collect()
            };
            for key in reached {
                assert!(expected.contains(&key), "{layout}: {key} in {expected}");
            }
            for partitions in [2, 3] {
                let db = promodb_with(partitions, &batches);
                let analyzed =
                    table(&query(&db, &format!("EXPLAIN ANALYZE {sql}")).expect("explain analyze"));
                let widened = analyzed
                    .split("widened=")
                    .nth(1)
                    .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                    .and_then(|count| count.parse::<usize>().ok());
                assert_eq!(widened, Some(partitions), "{layout}: {analyzed}");
                assert_eq!(
                    table(&query(&db, sql).expect(sql)),
                    expected,
                    "{layout}: {sql}"
                );
            }
        }
    }
}

/// The buckets' output is hash partitioned by the key exactly as DataFusion's
/// `RepartitionExec` partitions it (joins and aggregations above rely on it), and the
/// same plan can be executed again.
#[test]
fn dealt_groups_land_in_the_partition_datafusion_hashes_them_to() {
    use promodb::datafusion::common::hash_utils::create_hashes;
    use promodb::datafusion::physical_plan::ExecutionPlanProperties;
    use promodb::datafusion::physical_plan::repartition::REPARTITION_RANDOM_STATE;

    let batches = batches();
    let sql = "SELECT k_i64, window_funnel(INTERVAL '1 hour', k_ts, v > 0, v > 50) FROM t \
               GROUP BY k_i64";
    for partitions in [2, 3] {
        let db = promodb_with(partitions, &batches);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let plan = runtime.block_on(async {
            let frame = db.dataframe(sql).await.expect("plan");
            frame.create_physical_plan().await.expect("physical plan")
        });
        let shown = promodb::datafusion::physical_plan::displayable(plan.as_ref())
            .indent(false)
            .to_string();
        assert!(shown.contains("BucketedAggregateExec"), "{shown}");
        assert_eq!(plan.output_partitioning().partition_count(), partitions);
        let mut runs = Vec::new();
        for _ in 0..2 {
            let mut groups = 0;
            let mut each_partition = Vec::new();
            for partition in 0..partitions {
                let output = runtime.block_on(async {
                    let stream = plan
                        .execute(partition, db.session().task_ctx())
                        .expect("execute");
                    promodb::datafusion::physical_plan::common::collect(stream)
                        .await
                        .expect("collect")
                });
                for batch in &output {
                    let mut hashes = vec![0; batch.num_rows()];
                    create_hashes(
                        [batch.column(0)],
                        REPARTITION_RANDOM_STATE.random_state(),
                        &mut hashes,
                    )
                    .expect("hashes");
                    for hash in hashes {
                        assert_eq!(hash % partitions as u64, partition as u64);
                    }
                    groups += batch.num_rows();
                }
                each_partition.push(table(&output));
            }
            assert!(groups > 2_900, "{groups} groups");
            runs.push(each_partition);
        }
        assert_eq!(runs[0], runs[1], "a second execution of the plan");
    }
}

/// An error while reading the rows (here a division by zero in a condition) is the
/// query's error, from whichever task dealt the rows.
#[test]
fn an_error_while_dealing_rows_fails_the_query() {
    let db = promodb_with(2, &batches());
    let sql = "SELECT k_i64, window_funnel(INTERVAL '1 hour', k_ts, 1 / (v - v) > 0) \
               FROM t GROUP BY k_i64";
    let plan = table(&query(&db, &format!("EXPLAIN {sql}")).expect("explain"));
    assert!(plan.contains("BucketedAggregateExec"), "{plan}");
    let error = query(&db, sql).expect_err("division by zero").to_string();
    assert!(error.to_lowercase().contains("divide by zero"), "{error}");
}
