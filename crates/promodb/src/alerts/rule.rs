//! What a rule is: a query, its key and value columns, a message, and how it behaves.

use chrono::Duration;

use super::anomaly::{Anomaly, PromoCalendar};

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Needs attention soon.
    Warning,
    /// Costs money now.
    Critical,
}

impl Severity {
    /// Its name in events and sinks: `info`, `warning`, `critical`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// An alert rule. Build it with [`Rule::sql`], [`Rule::anomaly`] or a built-in
/// ([`Rule::stock_out_forecast`], [`Rule::promo_anomalies`]...) and the `with_*` methods.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub(crate) name: String,
    pub(crate) source: Source,
    /// Columns naming an instance; empty means every column but the value column.
    pub(crate) keys: Vec<String>,
    pub(crate) value: Option<String>,
    pub(crate) message: Option<String>,
    pub(crate) severity: Severity,
    pub(crate) owner: String,
    pub(crate) hold: Duration,
    pub(crate) resolve_hold: Duration,
    pub(crate) repeat: Option<Duration>,
    /// Rules whose alerts explain this one's: while one fires (or resolved less than
    /// `inhibit_hold` ago) this rule's instances do not fire.
    pub(crate) inhibitors: Vec<String>,
    pub(crate) inhibit_hold: Duration,
}

/// Where a rule's alert instances come from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Source {
    /// The rows of a query.
    Query(String),
    /// The firing keys of an anomaly model.
    Anomaly(Box<Anomaly>),
    /// SKUs whose stock lasts less than `lead` along last year's demand curve.
    StockOutByCurve {
        calendar: PromoCalendar,
        lead: Duration,
    },
}

impl Rule {
    /// A rule whose alert instances are the rows of `query`: by default each row fires at
    /// once (no `for`), with severity warning, owned by `ops`, keyed by all its columns.
    pub fn sql(name: impl Into<String>, query: impl Into<String>) -> Rule {
        Rule {
            name: name.into(),
            source: Source::Query(query.into()),
            keys: Vec::new(),
            value: None,
            message: None,
            severity: Severity::Warning,
            owner: "ops".to_string(),
            hold: Duration::zero(),
            resolve_hold: Duration::zero(),
            repeat: None,
            inhibitors: Vec::new(),
            inhibit_hold: Duration::zero(),
        }
    }

    /// SKUs whose stock runs out within `lead` at the current pace (or already has), from
    /// the `stock_risk` view; keyed by `sku_id`, value `minutes_to_stockout`, critical,
    /// owned by `supply`, resolved only after 15 minutes out of the lead (sell rates over
    /// 15 minutes are noisy).
    pub fn stock_out_forecast(lead: Duration) -> Rule {
        let minutes = lead.num_seconds() as f64 / 60.0;
        Rule::sql(
            "stock-out forecast",
            format!(
                "SELECT sku_id, on_hand, minutes_to_stockout FROM stock_risk \
                 WHERE minutes_to_stockout < {minutes}"
            ),
        )
        .keyed_by(["sku_id"])
        .with_value("minutes_to_stockout")
        .with_message("SKU {sku_id} runs out in {minutes_to_stockout} minutes ({on_hand} left)")
        .with_severity(Severity::Critical)
        .with_owner("supply")
        .with_resolve_after(Duration::minutes(15))
    }

    /// A rule that fires on the anomalies `anomaly` finds, one instance per key of its
    /// measure, with severity warning, owned by `ops`. The message template may use
    /// `{rule}`, `{key}`, `{direction}` (spike or drop), `{actual}`, `{expected}`, `{z}` and
    /// `{interval}` (minutes); the value is the actual count. Its own consecutive-interval
    /// and hysteresis logic decides firing and resolving, so `with_for` and
    /// `with_resolve_after` delay them further.
    pub fn anomaly(name: impl Into<String>, anomaly: Anomaly) -> Rule {
        Rule {
            source: Source::Anomaly(Box::new(anomaly)),
            ..Rule::sql(name, String::new())
        }
    }

    /// `stock-out forecast`, promo-aware: SKUs whose stock (the latest snapshot per
    /// warehouse, summed) is at most the sales expected within `lead`, where a SKU's
    /// expected sales are its units over the last 30 minutes scaled by last year's demand
    /// curve (`last_year_orders`, aligned by offset from the promo start) ahead versus
    /// over those 30 minutes. Unlike [`Rule::stock_out_forecast`], a flat extrapolation of
    /// the last 15 minutes, it is not misled by the midnight spike or the evening
    /// decline. Once at risk, a SKU stays at risk while it would run out within 1.5 x
    /// `lead`. Keyed by SKU, value the minutes left, critical, owned by `supply`,
    /// resolved after 15 minutes out of that.
    pub fn stock_out_forecast_by_curve(calendar: PromoCalendar, lead: Duration) -> Rule {
        Rule {
            source: Source::StockOutByCurve { calendar, lead },
            ..Rule::sql("stock-out forecast", String::new())
        }
        .with_message("SKU {key} runs out in {value} minutes ({on_hand} left)")
        .with_severity(Severity::Critical)
        .with_owner("supply")
        .with_resolve_after(Duration::minutes(15))
    }

    /// The columns that name an instance (e.g. `["sku_id"]`).
    pub fn keyed_by<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Rule {
        self.keys = columns.into_iter().map(Into::into).collect();
        self
    }

    /// The numeric column reported as the alert's value.
    pub fn with_value(mut self, column: impl Into<String>) -> Rule {
        self.value = Some(column.into());
        self
    }

    /// The message: `{column}` is replaced by the row's value of that column, `{rule}` by
    /// the rule's name, `{key}` by the instance key. Default: "`rule`: `key`".
    pub fn with_message(mut self, template: impl Into<String>) -> Rule {
        self.message = Some(template.into());
        self
    }

    /// Severity.
    pub fn with_severity(mut self, severity: Severity) -> Rule {
        self.severity = severity;
        self
    }

    /// The team or role that acts on it; sinks are routed by it.
    pub fn with_owner(mut self, owner: impl Into<String>) -> Rule {
        self.owner = owner.into();
        self
    }

    /// How long an instance must hold before it fires (`for` in Prometheus terms).
    pub fn with_for(mut self, hold: Duration) -> Rule {
        self.hold = hold;
        self
    }

    /// How long a firing instance's row must stay away before it resolves, so that a
    /// value hovering at the threshold does not fire and resolve over and over.
    pub fn with_resolve_after(mut self, hold: Duration) -> Rule {
        self.resolve_hold = hold;
        self
    }

    /// While firing and not acknowledged, notify again every `interval`.
    pub fn with_repeat(mut self, interval: Duration) -> Rule {
        self.repeat = Some(interval);
        self
    }

    /// Inhibition: while an alert of one of `rules` is firing, or resolved less than
    /// `hold` ago, this rule's instances wait as pending instead of firing, so that the
    /// cause is reported and not its consequences (orders drop because traffic did).
    pub fn inhibited_by<S: Into<String>>(
        mut self,
        rules: impl IntoIterator<Item = S>,
        hold: Duration,
    ) -> Rule {
        self.inhibitors = rules.into_iter().map(Into::into).collect();
        self.inhibit_hold = hold;
        self
    }

    /// Renames it (e.g. a built-in, to run two variants side by side).
    pub fn with_name(mut self, name: impl Into<String>) -> Rule {
        self.name = name.into();
        self
    }

    /// The rule's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}
