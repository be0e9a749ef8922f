//! Rules and sinks defined in a TOML file.
//!
//! ```toml
//! [[rule]]
//! name = "low stock"
//! query = "SELECT sku_id, on_hand FROM current_stock WHERE on_hand < 100"
//! keys = ["sku_id"]
//! value = "on_hand"
//! message = "SKU {sku_id} is down to {on_hand} units"
//! for = "2m"                 # durations: 90s, 15m, 2h, or a number of seconds
//! resolve_after = "10m"
//! repeat = "30m"
//! severity = "critical"      # info | warning | critical
//! owner = "supply"
//!
//! [[rule]]
//! name = "stock-out forecast"
//! kind = "stock_out_forecast" # sql (the default) | stock_out_forecast
//! lead = "30m"
//!
//! [[rule]]
//! name = "payments"
//! kind = "payment_success_drop" # or traffic_anomaly, orders_anomaly, gmv_drop,
//!                               # channel_orders_anomaly, ad_conversion_drop,
//!                               # stock_out_forecast_by_curve (with lead)
//! promo_start = "2026-11-11T00:00:00Z"
//! last_year_start = "2025-11-11T00:00:00Z" # default: promo_start - 365 days
//!
//! [[rule]]
//! name = "beauty orders"
//! kind = "anomaly"            # a count per minute against last year's, aligned
//! promo_start = "2026-11-11T00:00:00Z"
//! table = "orders"
//! measure = "count(DISTINCT order_id)"
//! per = "region"              # optional: one series per value
//! filter = "sku_id < 20000"   # optional
//! last_year_table = "last_year_orders"
//! interval = 5                # optional tuning: minutes, k, min_volume, settle,
//! direction = "drop"          # both | drop | spike
//! inhibited_by = ["traffic"]  # any rule: quiet while these fire
//! inhibit_hold = "30m"        # ... and this long after (default 30m)
//!
//! [[sink]]
//! kind = "webhook"            # webhook | json_lines
//! url = "http://127.0.0.1:9000/alerts"
//! dead_letters = "alerts-dead.jsonl"
//! owner = "supply"            # route: only this owner's rules (default: all)
//! min_severity = "warning"    # route: at least this severe (default: all)
//! timeout = "2s"
//! attempts = 4
//! backoff = "250ms"
//!
//! [[sink]]
//! kind = "json_lines"
//! path = "alerts.jsonl"
//! ```
//!
//! Anything malformed is an [`Error::RuleFile`] naming the file, the rule (or sink) and
//! the field.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Duration;
use toml::{Table, Value};

mod anomaly;

use super::rule::{Rule, Severity};
use super::sink::{AlertSink, JsonLinesSink, Route};
use super::webhook::{WebhookConfig, WebhookSink};
use crate::error::{Error, Result};

/// What a rule file defines: rules, and sinks with their routes.
#[derive(Debug)]
pub struct RuleFile {
    /// The rules, in file order.
    pub rules: Vec<Rule>,
    /// The sinks, in file order.
    pub sinks: Vec<(Route, Arc<dyn AlertSink>)>,
}

/// Where a problem is: the file, and which rule or sink.
struct Place<'a> {
    path: &'a Path,
    item: String,
}

impl Place<'_> {
    fn error(&self, field: &str, reason: impl Into<String>) -> Error {
        Error::RuleFile {
            path: self.path.to_path_buf(),
            item: self.item.clone(),
            field: field.to_string(),
            reason: reason.into(),
        }
    }
}

const RULE_FIELDS: &[&str] = &[
    "name",
    "kind",
    "query",
    "keys",
    "value",
    "message",
    "for",
    "resolve_after",
    "repeat",
    "severity",
    "owner",
    "lead",
    "promo_start",
    "last_year_start",
    "table",
    "measure",
    "per",
    "filter",
    "last_year_table",
    "interval",
    "k",
    "min_volume",
    "settle",
    "direction",
    "inhibited_by",
    "inhibit_hold",
];
const SINK_FIELDS: &[&str] = &[
    "kind",
    "url",
    "dead_letters",
    "path",
    "owner",
    "min_severity",
    "timeout",
    "attempts",
    "backoff",
];

impl RuleFile {
    /// Reads the rules and sinks of a TOML file. Relative sink paths are relative to the
    /// file's directory.
    pub fn load(path: impl AsRef<Path>) -> Result<RuleFile> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Parses rule-file text; `path` names it in errors and anchors relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<RuleFile> {
        let file = Place {
            path,
            item: "file".to_string(),
        };
        let table: Table = text.parse().map_err(|e: toml::de::Error| {
            file.error("", e.message().to_string() + &span_line(text, e.span()))
        })?;
        for key in table.keys() {
            if key != "rule" && key != "sink" {
                return Err(file.error(key, "unknown section (expected [[rule]] or [[sink]])"));
            }
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let rules = items(&table, "rule", &file)?
            .iter()
            .enumerate()
            .map(|(i, t)| parse_rule(t, i, path))
            .collect::<Result<Vec<_>>>()?;
        let sinks = items(&table, "sink", &file)?
            .iter()
            .enumerate()
            .map(|(i, t)| parse_sink(t, i, path, base))
            .collect::<Result<Vec<_>>>()?;
        Ok(RuleFile { rules, sinks })
    }
}

fn span_line(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    span.map(|s| {
        format!(
            " (line {})",
            text[..s.start.min(text.len())].lines().count().max(1)
        )
    })
    .unwrap_or_default()
}

fn items<'t>(table: &'t Table, section: &str, file: &Place<'_>) -> Result<Vec<&'t Table>> {
    match table.get(section) {
        None => Ok(Vec::new()),
        Some(Value::Array(entries)) => entries
            .iter()
            .map(|v| {
                v.as_table()
                    .ok_or_else(|| file.error(section, format!("use [[{section}]] tables")))
            })
            .collect(),
        Some(_) => Err(file.error(section, format!("use [[{section}]] tables"))),
    }
}

/// Typed access to one rule's or sink's fields.
struct Fields<'a> {
    table: &'a Table,
    place: Place<'a>,
}

impl Fields<'_> {
    fn check_known(&self, known: &[&str]) -> Result<()> {
        for key in self.table.keys() {
            if !known.contains(&key.as_str()) {
                return Err(self
                    .place
                    .error(key, format!("unknown field (known: {})", known.join(", "))));
            }
        }
        Ok(())
    }

    fn text(&self, field: &str) -> Result<Option<String>> {
        match self.table.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.place.error(
                field,
                format!("expected a string, found {}", other.type_str()),
            )),
        }
    }

    fn required_text(&self, field: &str) -> Result<String> {
        self.text(field)?
            .ok_or_else(|| self.place.error(field, "missing"))
    }

    fn texts(&self, field: &str) -> Result<Option<Vec<String>>> {
        match self.table.get(field) {
            None => Ok(None),
            Some(Value::Array(values)) => values
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| self.place.error(field, "expected a list of strings"))
                })
                .collect::<Result<_>>()
                .map(Some),
            Some(_) => Err(self.place.error(field, "expected a list of strings")),
        }
    }

    fn duration(&self, field: &str) -> Result<Option<Duration>> {
        match self.table.get(field) {
            None => Ok(None),
            Some(Value::Integer(seconds)) if *seconds >= 0 => Ok(Some(Duration::seconds(*seconds))),
            Some(Value::String(text)) => parse_duration(text).map(Some).ok_or_else(|| {
                self.place.error(
                    field,
                    format!("bad duration '{text}' (use e.g. 500ms, 90s, 15m, 2h)"),
                )
            }),
            Some(other) => Err(self.place.error(
                field,
                format!("expected a duration, found {}", other.type_str()),
            )),
        }
    }

    fn severity(&self, field: &str) -> Result<Option<Severity>> {
        self.text(field)?
            .map(|name| {
                [Severity::Info, Severity::Warning, Severity::Critical]
                    .into_iter()
                    .find(|s| s.name() == name)
                    .ok_or_else(|| {
                        self.place.error(
                            field,
                            format!("unknown severity '{name}' (info, warning, critical)"),
                        )
                    })
            })
            .transpose()
    }

    fn count(&self, field: &str) -> Result<Option<u32>> {
        match self.table.get(field) {
            None => Ok(None),
            Some(Value::Integer(n)) => u32::try_from(*n)
                .map(Some)
                .map_err(|_| self.place.error(field, format!("out of range: {n}"))),
            Some(other) => Err(self.place.error(
                field,
                format!("expected an integer, found {}", other.type_str()),
            )),
        }
    }
}

/// `500ms`, `90s`, `15m`, `2h`.
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().ok()?;
    match unit.trim() {
        "ms" => Some(Duration::milliseconds(n)),
        "s" => Some(Duration::seconds(n)),
        "m" | "min" => Some(Duration::minutes(n)),
        "h" => Some(Duration::hours(n)),
        _ => None,
    }
}

fn parse_rule(table: &Table, index: usize, path: &Path) -> Result<Rule> {
    let name = match table.get("name") {
        Some(Value::String(name)) => name.clone(),
        _ => {
            return Err(Place {
                path,
                item: format!("rule #{}", index + 1),
            }
            .error("name", "missing (every rule needs a name string)"));
        }
    };
    let fields = Fields {
        table,
        place: Place {
            path,
            item: format!("rule '{name}'"),
        },
    };
    fields.check_known(RULE_FIELDS)?;
    let kind = fields.text("kind")?.unwrap_or_else(|| "sql".to_string());
    let mut rule = match kind.as_str() {
        "sql" => {
            if table.contains_key("lead") {
                return Err(fields
                    .place
                    .error("lead", "only for kind = \"stock_out_forecast\""));
            }
            Rule::sql(name.clone(), fields.required_text("query")?)
        }
        "stock_out_forecast" => {
            if table.contains_key("query") {
                return Err(fields
                    .place
                    .error("query", "a stock_out_forecast rule has its own query"));
            }
            let lead = fields.duration("lead")?.unwrap_or(Duration::minutes(30));
            let mut rule = Rule::stock_out_forecast(lead);
            rule.name = name.clone();
            rule
        }
        other => match anomaly::parse(other, &name, &fields)? {
            Some(rule) => rule,
            None => {
                return Err(fields.place.error(
                    "kind",
                    format!(
                        "unknown kind '{other}' (sql, stock_out_forecast, {})",
                        anomaly::KINDS
                    ),
                ));
            }
        },
    };
    if let Some(keys) = fields.texts("keys")? {
        rule = rule.keyed_by(keys);
    }
    if let Some(value) = fields.text("value")? {
        rule = rule.with_value(value);
    }
    if let Some(message) = fields.text("message")? {
        rule = rule.with_message(message);
    }
    if let Some(hold) = fields.duration("for")? {
        rule = rule.with_for(hold);
    }
    if let Some(hold) = fields.duration("resolve_after")? {
        rule = rule.with_resolve_after(hold);
    }
    if let Some(repeat) = fields.duration("repeat")? {
        rule = rule.with_repeat(repeat);
    }
    if let Some(severity) = fields.severity("severity")? {
        rule = rule.with_severity(severity);
    }
    if let Some(owner) = fields.text("owner")? {
        rule = rule.with_owner(owner);
    }
    if let Some(inhibitors) = fields.texts("inhibited_by")? {
        let hold = fields
            .duration("inhibit_hold")?
            .unwrap_or(Duration::minutes(30));
        rule = rule.inhibited_by(inhibitors, hold);
    }
    Ok(rule)
}

fn parse_sink(
    table: &Table,
    index: usize,
    path: &Path,
    base: &Path,
) -> Result<(Route, Arc<dyn AlertSink>)> {
    let fields = Fields {
        table,
        place: Place {
            path,
            item: format!("sink #{}", index + 1),
        },
    };
    fields.check_known(SINK_FIELDS)?;
    let route = Route {
        owner: fields.text("owner")?,
        min_severity: fields.severity("min_severity")?,
    };
    let resolve = |p: String| -> PathBuf {
        let p = PathBuf::from(p);
        if p.is_absolute() { p } else { base.join(p) }
    };
    let kind = fields.required_text("kind")?;
    let sink: Arc<dyn AlertSink> = match kind.as_str() {
        "json_lines" => Arc::new(
            JsonLinesSink::open(resolve(fields.required_text("path")?))
                .map_err(|e| fields.place.error("path", e.to_string()))?,
        ),
        "webhook" => {
            let defaults = WebhookConfig::default();
            let std_duration =
                |field: &str, default: std::time::Duration| -> Result<std::time::Duration> {
                    match fields.duration(field)? {
                        Some(d) => d
                            .to_std()
                            .map_err(|_| fields.place.error(field, "must not be negative")),
                        None => Ok(default),
                    }
                };
            let config = WebhookConfig {
                timeout: std_duration("timeout", defaults.timeout)?,
                attempts: fields.count("attempts")?.unwrap_or(defaults.attempts),
                backoff: std_duration("backoff", defaults.backoff)?,
            };
            if config.attempts == 0 {
                return Err(fields.place.error("attempts", "must be at least 1"));
            }
            let url = fields.required_text("url")?;
            let dead_letters = resolve(fields.required_text("dead_letters")?);
            Arc::new(
                WebhookSink::new(&url, dead_letters, config)
                    .map_err(|e| fields.place.error("url", e.to_string()))?,
            )
        }
        other => {
            return Err(fields.place.error(
                "kind",
                format!("unknown sink kind '{other}' (webhook, json_lines)"),
            ));
        }
    };
    Ok((route, sink))
}
