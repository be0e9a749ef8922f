//! Alert rules and sinks loaded from a TOML file.

use chrono::{TimeZone, Utc};
use promodb::alerts::{Alerts, RuleFile};
use promodb::ingest::InventorySnapshot;
use promodb::{Error, PromoDb};

const RULES: &str = r#"
[[rule]]
name = "low stock"
query = "SELECT sku_id, on_hand FROM current_stock WHERE on_hand < 100"
keys = ["sku_id"]
value = "on_hand"
message = "SKU {sku_id} is down to {on_hand} units"
for = "0s"
repeat = "30m"
severity = "critical"
owner = "supply"

[[rule]]
name = "forecast"
kind = "stock_out_forecast"
lead = "45m"

[[sink]]
kind = "json_lines"
path = "alerts.jsonl"
owner = "supply"
min_severity = "warning"
"#;

#[tokio::test]
async fn a_rule_file_adds_rules_and_sinks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    std::fs::write(&path, RULES).unwrap();
    let db = PromoDb::in_memory().unwrap();
    let mut alerts = Alerts::new(&db).unwrap();
    alerts.add_file(&path).await.unwrap();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 11, 10, 0, 0).unwrap();
    db.push(InventorySnapshot {
        ts: t0,
        sku_id: 7,
        warehouse: "hz".into(),
        on_hand: 40,
    })
    .unwrap();
    let events = alerts.evaluate(t0).await.unwrap();
    let firing: Vec<&str> = events
        .iter()
        .filter(|e| e.transition.name() == "firing")
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(firing, ["SKU 7 is down to 40 units"]);
    // The sink path is relative to the rule file.
    let lines = std::fs::read_to_string(dir.path().join("alerts.jsonl")).unwrap();
    assert!(lines.contains(r#""rule":"low stock","key":"7","transition":"firing","severity":"critical","owner":"supply""#), "{lines}");
}

#[test]
fn every_malformed_rule_file_names_the_rule_and_the_field() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "[[rule]]\nquery = \"SELECT 1\"",
            "rule #1",
            "name",
            "missing",
        ),
        (
            "[[rule]]\nname = \"a\"\nquery = \"SELECT 1\"\nfro = \"1m\"",
            "rule 'a'",
            "fro",
            "unknown field",
        ),
        (
            "[[rule]]\nname = \"a\"\nquery = \"SELECT 1\"\nfor = \"2x\"",
            "rule 'a'",
            "for",
            "bad duration '2x'",
        ),
        (
            "[[rule]]\nname = \"a\"\nquery = \"SELECT 1\"\nseverity = \"urgent\"",
            "rule 'a'",
            "severity",
            "unknown severity",
        ),
        ("[[rule]]\nname = \"a\"", "rule 'a'", "query", "missing"),
        (
            "[[rule]]\nname = \"a\"\nkind = \"magic\"",
            "rule 'a'",
            "kind",
            "unknown kind 'magic'",
        ),
        (
            "[[rule]]\nname = \"a\"\nquery = \"SELECT 1\"\nkeys = \"sku_id\"",
            "rule 'a'",
            "keys",
            "list of strings",
        ),
        (
            "[[rule]]\nname = \"a\"\nquery = \"SELECT 1\"\nrepeat = true",
            "rule 'a'",
            "repeat",
            "expected a duration",
        ),
        (
            "[[rule]]\nname = \"a\"\nkind = \"stock_out_forecast\"\nquery = \"SELECT 1\"",
            "rule 'a'",
            "query",
            "its own query",
        ),
        (
            "[[sink]]\nkind = \"webhook\"\nurl = \"https://x\"\ndead_letters = \"d\"",
            "sink #1",
            "url",
            "only http://",
        ),
        (
            "[[sink]]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:1/x\"\ndead_letters = \"d\"\nattempts = 0",
            "sink #1",
            "attempts",
            "at least 1",
        ),
        (
            "[[sink]]\nkind = \"pager\"",
            "sink #1",
            "kind",
            "unknown sink kind",
        ),
        (
            "[[rule]]\nname = \"a\"\nkind = \"traffic_anomaly\"",
            "rule 'a'",
            "promo_start",
            "missing",
        ),
        (
            "[[rule]]\nname = \"a\"\nkind = \"gmv_drop\"\npromo_start = \"11/11\"",
            "rule 'a'",
            "promo_start",
            "not an RFC 3339 time",
        ),
        (
            "[[rule]]\nname = \"a\"\nkind = \"anomaly\"\npromo_start = \"2026-11-11T00:00:00Z\"\ntable = \"orders\"\nmeasure = \"count(*)\"",
            "rule 'a'",
            "last_year_table",
            "missing",
        ),
        (
            "[[rule]]\nname = \"a\"\nkind = \"anomaly\"\npromo_start = \"2026-11-11T00:00:00Z\"\ntable = \"orders\"\nmeasure = \"count(*)\"\nlast_year_table = \"o\"\ndirection = \"down\"",
            "rule 'a'",
            "direction",
            "unknown direction 'down'",
        ),
        (
            "[[rule]]\nname = \"a\"\nkind = \"anomaly\"\npromo_start = \"2026-11-11T00:00:00Z\"\ntable = \"orders\"\nmeasure = \"count(*)\"\nlast_year_table = \"o\"\nk = -1",
            "rule 'a'",
            "k",
            "must be positive",
        ),
        (
            "[[rule]]\nname = \"a\"\nkind = \"orders_anomaly\"\npromo_start = \"2026-11-11T00:00:00Z\"\nquery = \"SELECT 1\"",
            "rule 'a'",
            "query",
            "its own queries",
        ),
        (
            "[[rule]]\nname = \"a\"\nquery = \"SELECT 1\"\ninhibited_by = \"b\"",
            "rule 'a'",
            "inhibited_by",
            "list of strings",
        ),
        ("[rules]\nname = 1", "file", "rules", "unknown section"),
        (
            "[[rule]]\nname = \"a\"\nquery = \"SELECT 1",
            "file",
            "",
            "line 3",
        ),
    ];
    for (text, item, field, reason) in cases {
        let err = RuleFile::parse(text, std::path::Path::new("rules.toml")).unwrap_err();
        match &err {
            Error::RuleFile {
                item: i,
                field: f,
                reason: r,
                ..
            } => {
                assert_eq!((i.as_str(), f.as_str()), (*item, *field), "{text}: {err}");
                assert!(r.contains(reason), "{text}: {err}");
            }
            other => panic!("{text}: expected a rule file error, got {other}"),
        }
        assert!(err.to_string().starts_with("rules.toml: "), "{err}");
    }
}

#[tokio::test]
async fn a_rule_whose_query_does_not_plan_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    std::fs::write(
        &path,
        "[[rule]]\nname = \"good\"\nquery = \"SELECT 1 AS one\"\n\n[[rule]]\nname = \"bad\"\nquery = \"SELECT nope FROM orders\"\n",
    )
    .unwrap();
    let db = PromoDb::in_memory().unwrap();
    let mut alerts = Alerts::new(&db).unwrap();
    let err = alerts.add_file(&path).await.unwrap_err();
    assert!(err.to_string().contains("alert rule 'bad': query"), "{err}");
    let t0 = Utc.with_ymd_and_hms(2026, 11, 11, 10, 0, 0).unwrap();
    assert!(
        alerts.evaluate(t0).await.unwrap().is_empty(),
        "the good rule was not kept either"
    );
}

const ANOMALY_RULES: &str = r#"
[[rule]]
name = "traffic"
kind = "traffic_anomaly"
promo_start = "2026-11-11T00:00:00Z"
owner = "war-room"

[[rule]]
name = "stock"
kind = "stock_out_forecast_by_curve"
promo_start = "2026-11-11T00:00:00Z"
last_year_start = "2025-11-11T00:00:00Z"
lead = "45m"

[[rule]]
name = "regional orders"
kind = "anomaly"
promo_start = "2026-11-11T00:00:00Z"
table = "orders"
measure = "count(DISTINCT order_id)"
per = "region"
filter = "qty > 0"
last_year_table = "last_year_orders"
interval = 5
k = 5.5
min_volume = 20
direction = "drop"
inhibited_by = ["traffic"]
"#;

#[tokio::test]
async fn anomaly_rules_load_from_a_file_and_read_last_years_tables() {
    let db = PromoDb::in_memory().unwrap();
    let mut alerts = Alerts::new(&db).unwrap();
    let path = std::path::Path::new("rules.toml");
    let file = RuleFile::parse(ANOMALY_RULES, path).unwrap();
    let names: Vec<&str> = file.rules.iter().map(|r| r.name()).collect();
    assert_eq!(names, ["traffic", "stock", "regional orders"]);
    // Without last year's tables they do not plan: the error names the rule and table.
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, ANOMALY_RULES).unwrap();
    let error = alerts.add_file(&rules).await.unwrap_err().to_string();
    assert!(
        error.contains("'traffic'") && error.contains("last_year_user_events"),
        "{error}"
    );
    // With them (empty is enough to plan), all three are added.
    for table in ["user_events", "orders"] {
        db.sql(&format!(
            "CREATE TABLE last_year_{table} AS SELECT * FROM {table} LIMIT 0"
        ))
        .await
        .unwrap();
    }
    alerts.add_file(&rules).await.unwrap();
    let tables: Vec<&str> = alerts
        .tables_read("regional orders")
        .unwrap()
        .iter()
        .map(|t| t.name())
        .collect();
    assert_eq!(tables, ["orders"]);
    let t = Utc.with_ymd_and_hms(2026, 11, 11, 1, 0, 0).unwrap();
    assert!(alerts.evaluate(t).await.unwrap().is_empty());
}
