//! Incidents injected into a promo, and their ground-truth labels.
//!
//! With [`IncidentSet::Default`] a promo gets four, placed at fixed fractions of its
//! length (away from the opening spike):
//!
//! | kind | key | what happens in [start, end) |
//! |---|---|---|
//! | `payment_outage` | the method (`wechat`) | 85% of its payment attempts fail |
//! | `stock_out` | the SKU id | a hot SKU, stocked at under half its demand, sells out; start = the moment its stock reaches 0, end = promo end |
//! | `conversion_collapse` | the channel (`ads`) | sessions from it almost never add to cart, while its ad spend goes on |
//! | `traffic_drop` | none (all traffic) | 70% of sessions that would start do not happen |

use chrono::{DateTime, Utc};

/// Which incidents a promo gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncidentSet {
    /// The four incidents of the module docs.
    #[default]
    Default,
    /// A clean promo.
    None,
}

/// The kind of an injected incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IncidentKind {
    /// A payment method fails most attempts.
    PaymentOutage,
    /// A hot SKU runs out of stock.
    StockOut,
    /// An ad channel stops converting while its spend continues.
    ConversionCollapse,
    /// Traffic falls suddenly.
    TrafficDrop,
}

impl IncidentKind {
    /// The label's `kind` text.
    pub fn name(self) -> &'static str {
        match self {
            IncidentKind::PaymentOutage => "payment_outage",
            IncidentKind::StockOut => "stock_out",
            IncidentKind::ConversionCollapse => "conversion_collapse",
            IncidentKind::TrafficDrop => "traffic_drop",
        }
    }
}

/// A ground-truth label: what happened, to what, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    /// What happened.
    pub kind: IncidentKind,
    /// The affected key: a payment method, a SKU id, a channel; `None` for all traffic.
    pub key: Option<String>,
    /// When it started (inclusive).
    pub start: DateTime<Utc>,
    /// When it ended (exclusive).
    pub end: DateTime<Utc>,
}

/// The payment method of the default outage.
pub(crate) const OUTAGE_METHOD: usize = 1; // wechat
/// The channel of the default conversion collapse.
pub(crate) const COLLAPSE_CHANNEL: usize = 3; // ads
/// The popularity rank of the SKU of the default stock-out.
pub(crate) const STOCK_OUT_RANK: usize = 1;

/// A window of microseconds [start, end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) start: i64,
    pub(crate) end: i64,
}

impl Window {
    pub(crate) fn contains(&self, ts: i64) -> bool {
        self.start <= ts && ts < self.end
    }
}

/// Where the incidents of one promo fall, in microseconds.
#[derive(Debug, Clone, Default)]
pub(crate) struct IncidentPlan {
    pub(crate) payment_outage: Option<Window>,
    pub(crate) conversion_collapse: Option<Window>,
    pub(crate) traffic_drop: Option<Window>,
    pub(crate) stock_out: bool,
}

impl IncidentPlan {
    /// The plan for a promo of `minutes` starting at `start` (microseconds).
    pub(crate) fn new(set: IncidentSet, start: i64, minutes: usize) -> Self {
        if set == IncidentSet::None {
            return IncidentPlan::default();
        }
        let at = |fraction: f64, length_minutes: f64| {
            let length = (length_minutes * minutes as f64 / 1440.0).max(5.0);
            let begin = start + (fraction * minutes as f64 * 60e6) as i64;
            Window {
                start: begin,
                end: begin + (length * 60e6) as i64,
            }
        };
        IncidentPlan {
            payment_outage: Some(at(0.40, 20.0)),
            conversion_collapse: Some(at(0.55, 45.0)),
            traffic_drop: Some(at(0.70, 15.0)),
            stock_out: true,
        }
    }
}
