//! Anomaly, efficiency and promo-aware stock-out rules in a rule file.

use chrono::{DateTime, Duration, Utc};
use toml::Value;

use super::Fields;
use crate::alerts::{Anomaly, Direction, Measure, PromoCalendar, Rule};
use crate::error::Result;

/// A built-in rule's constructor.
type BuiltIn = fn(PromoCalendar) -> Rule;

/// The built-in rule kinds that need the promo calendar, and their constructors.
const BUILT_INS: &[(&str, BuiltIn)] = &[
    ("traffic_anomaly", Rule::traffic_anomaly),
    ("orders_anomaly", Rule::orders_anomaly),
    ("gmv_drop", Rule::gmv_drop),
    ("channel_orders_anomaly", Rule::channel_orders_anomaly),
    ("payment_success_drop", Rule::payment_success_drop),
    ("ad_conversion_drop", Rule::ad_conversion_drop),
];

/// The kinds this module parses, for the "unknown kind" error.
pub(super) const KINDS: &str = "traffic_anomaly, orders_anomaly, gmv_drop, \
    channel_orders_anomaly, payment_success_drop, ad_conversion_drop, \
    stock_out_forecast_by_curve, anomaly";

/// The rule of `kind` if this module knows it (with the fields of a generic `anomaly`:
/// `table`, `measure`, `per`, `filter`, `last_year_table`, `interval`, `k`,
/// `min_volume`, `settle`, `direction`), else `None`.
pub(super) fn parse(kind: &str, name: &str, fields: &Fields<'_>) -> Result<Option<Rule>> {
    let built_in = BUILT_INS.iter().find(|(k, _)| *k == kind);
    if built_in.is_none() && kind != "anomaly" && kind != "stock_out_forecast_by_curve" {
        return Ok(None);
    }
    if fields.table.contains_key("query") {
        return Err(fields
            .place
            .error("query", format!("a {kind} rule has its own queries")));
    }
    let calendar = calendar(fields)?;
    let mut rule = match (built_in, kind) {
        (Some((_, build)), _) => build(calendar),
        (None, "stock_out_forecast_by_curve") => {
            let lead = fields.duration("lead")?.unwrap_or(Duration::minutes(30));
            Rule::stock_out_forecast_by_curve(calendar, lead)
        }
        _ => Rule::anomaly(name, generic(fields, calendar)?),
    };
    rule.name = name.to_string();
    Ok(Some(rule))
}

fn calendar(fields: &Fields<'_>) -> Result<PromoCalendar> {
    let instant = |field: &str| -> Result<Option<DateTime<Utc>>> {
        fields
            .text(field)?
            .map(|text| {
                DateTime::parse_from_rfc3339(&text)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| {
                        fields
                            .place
                            .error(field, format!("'{text}' is not an RFC 3339 time: {e}"))
                    })
            })
            .transpose()
    };
    let start = instant("promo_start")?.ok_or_else(|| {
        fields
            .place
            .error("promo_start", "missing (the promo's start, RFC 3339)")
    })?;
    let mut calendar = PromoCalendar::new(start);
    if let Some(last_year) = instant("last_year_start")? {
        calendar = calendar.with_last_year_start(last_year);
    }
    Ok(calendar)
}

/// `kind = "anomaly"`: a count per minute of `table` against `last_year_table`.
fn generic(fields: &Fields<'_>, calendar: PromoCalendar) -> Result<Anomaly> {
    let mut measure = Measure::new(
        fields.required_text("table")?,
        fields.required_text("measure")?,
    );
    if let Some(key) = fields.text("per")? {
        measure = measure.per(key);
    }
    if let Some(filter) = fields.text("filter")? {
        measure = measure.filter(filter);
    }
    let anomaly = Anomaly::curve(calendar, measure, fields.required_text("last_year_table")?);
    let mut params = anomaly.params().clone();
    if let Some(interval) = fields.count("interval")? {
        if interval == 0 {
            return Err(fields.place.error("interval", "must be at least 1 minute"));
        }
        params.interval = interval;
    }
    if let Some(settle) = fields.count("settle")? {
        params.settle = settle;
    }
    if let Some(k) = number(fields, "k")? {
        params.k = k;
    }
    if let Some(volume) = number(fields, "min_volume")? {
        params.min_volume = volume;
    }
    if let Some(direction) = fields.text("direction")? {
        params.direction = match direction.as_str() {
            "both" => Direction::Both,
            "drop" => Direction::Drop,
            "spike" => Direction::Spike,
            other => {
                return Err(fields.place.error(
                    "direction",
                    format!("unknown direction '{other}' (both, drop, spike)"),
                ));
            }
        };
    }
    Ok(anomaly.with_params(params))
}

/// A positive number (integer or float).
fn number(fields: &Fields<'_>, field: &str) -> Result<Option<f64>> {
    let value = match fields.table.get(field) {
        None => return Ok(None),
        Some(Value::Float(x)) => *x,
        Some(Value::Integer(n)) => *n as f64,
        Some(other) => {
            return Err(fields.place.error(
                field,
                format!("expected a number, found {}", other.type_str()),
            ));
        }
    };
    if value.is_finite() && value > 0.0 {
        Ok(Some(value))
    } else {
        Err(fields
            .place
            .error(field, format!("must be positive, not {value}")))
    }
}
