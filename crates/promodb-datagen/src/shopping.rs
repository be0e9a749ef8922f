//! Shoppers: sessions that run view -> click -> add_to_cart -> checkout -> pay with
//! channel-dependent drop-off, the payments they attempt and the orders they place, with
//! the mess of real logs (repeated steps, duplicates, equal timestamps, late arrivals,
//! NULL channels).

use promodb::schema::Table;

use crate::catalog::Catalog;
use crate::curve::TrafficCurve;
use crate::incidents::{COLLAPSE_CHANNEL, IncidentPlan, OUTAGE_METHOD};
use crate::rng::{Rng, Weighted};
use crate::stock::StockLedger;
use crate::table_writer::TableWriter;

/// Traffic sources.
pub(crate) const CHANNELS: [&str; 5] = ["live_stream", "short_video", "search", "ads", "organic"];
/// Channels that buy traffic (every one but organic), each with [`CAMPAIGNS_PER_CHANNEL`].
pub(crate) const PAID_CHANNELS: usize = 4;
pub(crate) const CAMPAIGNS_PER_CHANNEL: usize = 3;
/// Payment methods and their shares.
pub(crate) const METHODS: [&str; 3] = ["alipay", "wechat", "card"];
const METHOD_SHARE: [f64; 3] = [0.55, 0.35, 0.10];
const REGIONS: [&str; 6] = ["east", "north", "south", "west", "central", "northeast"];

/// How a channel's sessions behave, and what its traffic costs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChannelProfile {
    pub(crate) share: f64,
    click: f64,
    cart: f64,
    checkout: f64,
    pay: f64,
    /// Click-through rate of its ads, and cost per click in cents (paid channels).
    pub(crate) ctr: f64,
    pub(crate) cpc_cents: i64,
}

pub(crate) const PROFILES: [ChannelProfile; 5] = [
    ChannelProfile {
        share: 0.25,
        click: 0.65,
        cart: 0.45,
        checkout: 0.70,
        pay: 0.92,
        ctr: 0.050,
        cpc_cents: 800,
    },
    ChannelProfile {
        share: 0.22,
        click: 0.50,
        cart: 0.30,
        checkout: 0.65,
        pay: 0.90,
        ctr: 0.040,
        cpc_cents: 600,
    },
    ChannelProfile {
        share: 0.20,
        click: 0.70,
        cart: 0.40,
        checkout: 0.70,
        pay: 0.92,
        ctr: 0.080,
        cpc_cents: 1000,
    },
    ChannelProfile {
        share: 0.18,
        click: 0.35,
        cart: 0.20,
        checkout: 0.55,
        pay: 0.85,
        ctr: 0.015,
        cpc_cents: 1500,
    },
    ChannelProfile {
        share: 0.15,
        click: 0.55,
        cart: 0.35,
        checkout: 0.65,
        pay: 0.92,
        ctr: 0.0,
        cpc_cents: 0,
    },
];

const SECOND: i64 = 1_000_000;
const MINUTE: i64 = 60 * SECOND;
/// Base probability that a payment attempt fails.
const PAYMENT_FAILURE: f64 = 0.03;
const OUTAGE_FAILURE: f64 = 0.85;
const TRAFFIC_DROP_LOSS: f64 = 0.7;
const COLLAPSED_CART: f64 = 0.02;

/// Expected user events of one session (repeats and duplicates included), and expected
/// units ordered, averaged over channels: used to size sessions and stock.
pub(crate) fn expected_per_session() -> (f64, f64) {
    let mut events = 1.4; // views
    let mut units = 0.0;
    for p in PROFILES {
        let cart = p.click * p.cart;
        let checkout = cart * p.checkout;
        let paid = checkout * p.pay * (1.0 - PAYMENT_FAILURE * 0.3);
        events += p.share * (p.click + cart * 1.1 + checkout + paid);
        units += p.share * paid * 1.25 * 1.2;
    }
    (events * 1.01, units)
}

/// One order line, for refunds, tickets and shipments.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OrderLine {
    pub(crate) ts: i64,
    pub(crate) order_id: i64,
    pub(crate) user_id: i64,
    pub(crate) sku: usize,
    pub(crate) qty: i64,
    pub(crate) amount_cents: i64,
    pub(crate) warehouse: usize,
    pub(crate) region: usize,
}

/// What shoppers produced.
#[derive(Debug)]
pub(crate) struct Shopping {
    pub(crate) user_events: TableWriter,
    pub(crate) orders: TableWriter,
    pub(crate) payments: TableWriter,
    pub(crate) lines: Vec<OrderLine>,
    /// Sessions per minute and paid campaign slot (channel * 3 + campaign), for ad spend.
    pub(crate) paid_sessions: Vec<[u32; PAID_CHANNELS * CAMPAIGNS_PER_CHANNEL]>,
    pub(crate) sessions: usize,
}

/// Everything a simulation run needs.
pub(crate) struct Market<'a> {
    pub(crate) start: i64,
    pub(crate) curve: &'a TrafficCurve,
    pub(crate) catalog: &'a Catalog,
    pub(crate) incidents: &'a IncidentPlan,
    pub(crate) users: u64,
    /// Id offset, so last year's ids never collide with this year's.
    pub(crate) id_base: i64,
}

/// Runs `sessions` sessions, in order of their start time, against the stock in `ledger`.
pub(crate) fn simulate(
    market: &Market<'_>,
    sessions: usize,
    ledger: &mut StockLedger,
    rng: &mut Rng,
    progress: &mut dyn FnMut(f64),
) -> Shopping {
    let channel_pick = Weighted::new(&PROFILES.map(|p| p.share));
    let method_pick = Weighted::new(&METHOD_SHARE);
    let mut starts: Vec<i64> = (0..sessions)
        .map(|_| {
            let minute = market.curve.sample_minute(rng) as i64;
            market.start + minute * MINUTE + rng.below(MINUTE as u64) as i64
        })
        .collect();
    starts.sort_unstable();

    let mut out = Shopping {
        user_events: TableWriter::new(Table::UserEvents),
        orders: TableWriter::new(Table::Orders),
        payments: TableWriter::new(Table::Payments),
        lines: Vec::new(),
        paid_sessions: vec![[0; PAID_CHANNELS * CAMPAIGNS_PER_CHANNEL]; market.curve.minutes()],
        sessions: 0,
    };
    let mut next_order = market.id_base + 1;
    let report_every = (sessions / 100).max(1);
    for (n, &start) in starts.iter().enumerate() {
        if n % report_every == 0 {
            progress(n as f64 / sessions as f64);
        }
        if market
            .incidents
            .traffic_drop
            .is_some_and(|w| w.contains(start))
            && rng.chance(TRAFFIC_DROP_LOSS)
        {
            continue;
        }
        let session = Session {
            id: market.id_base + n as i64 + 1,
            user: market.id_base + loyal_or_any(market.users, rng),
            channel: channel_pick.sample(rng),
            campaign: rng.below(CAMPAIGNS_PER_CHANNEL as u64) as usize,
            sku: market.catalog.sample(rng),
        };
        out.sessions += 1;
        if session.channel < PAID_CHANNELS {
            let minute = ((start - market.start) / MINUTE) as usize;
            out.paid_sessions[minute]
                [session.channel * CAMPAIGNS_PER_CHANNEL + session.campaign] += 1;
        }
        let order_id = next_order;
        if shop(
            market,
            &session,
            start,
            order_id,
            &method_pick,
            ledger,
            rng,
            &mut out,
        ) {
            next_order += 1;
        }
    }
    progress(1.0);
    out
}

struct Session {
    id: i64,
    user: i64,
    channel: usize,
    campaign: usize,
    sku: usize,
}

impl Session {
    fn campaign_id(&self) -> Option<i64> {
        (self.channel < PAID_CHANNELS)
            .then(|| 100 * (self.channel as i64 + 1) + self.campaign as i64 + 1)
    }
}

/// A returning shopper one time in three (the most active 5% of users), else anyone.
fn loyal_or_any(users: u64, rng: &mut Rng) -> i64 {
    let pool = if rng.chance(0.33) {
        (users / 20).max(1)
    } else {
        users
    };
    rng.below(pool) as i64 + 1
}

/// One session's events, payments and order; true if it placed order `order_id`.
#[allow(clippy::too_many_arguments)]
fn shop(
    market: &Market<'_>,
    session: &Session,
    start: i64,
    order_id: i64,
    method_pick: &Weighted,
    ledger: &mut StockLedger,
    rng: &mut Rng,
    out: &mut Shopping,
) -> bool {
    let profile = PROFILES[session.channel];
    let mut t = start;
    let sku_id = market.catalog.skus[session.sku].id;
    let emit = |out: &mut Shopping, t: i64, event: &str, rng: &mut Rng| {
        emit_event(&mut out.user_events, session, sku_id, t, event, rng);
    };
    let gap = |rng: &mut Rng, long: bool| -> i64 {
        if rng.chance(0.04) {
            0 // equal timestamps happen
        } else if long && rng.chance(0.1) {
            rng.range(20 * MINUTE, 50 * MINUTE)
        } else {
            rng.range(SECOND, 90 * SECOND)
        }
    };

    let views = 1 + usize::from(rng.chance(0.3)) + usize::from(rng.chance(0.1));
    for _ in 0..views {
        emit(out, t, "view", rng);
        t += gap(rng, false);
    }
    if !rng.chance(profile.click) {
        return false;
    }
    emit(out, t, "click", rng);
    t += gap(rng, false);
    let collapsed = session.channel == COLLAPSE_CHANNEL
        && market
            .incidents
            .conversion_collapse
            .is_some_and(|w| w.contains(t));
    if !rng.chance(if collapsed {
        COLLAPSED_CART
    } else {
        profile.cart
    }) {
        return false;
    }
    emit(out, t, "add_to_cart", rng);
    if rng.chance(0.1) {
        t += gap(rng, false);
        emit(out, t, "add_to_cart", rng); // a repeated step
    }
    t += gap(rng, true);
    if !rng.chance(profile.checkout) {
        return false;
    }
    emit(out, t, "checkout", rng);

    // The basket: the session's SKU, sometimes one more; out-of-stock lines drop out, and
    // without the main SKU the shopper leaves.
    let mut basket = vec![(
        session.sku,
        1 + i64::from(rng.chance(0.2)) + i64::from(rng.chance(0.05)),
    )];
    if rng.chance(0.2) {
        let extra = market.catalog.sample(rng);
        if extra != session.sku {
            basket.push((extra, 1));
        }
    }
    let mut lines = Vec::new();
    for (sku, qty) in basket {
        if let Some(slot) = ledger.available(sku, qty) {
            lines.push((sku, qty, slot));
        } else if sku == session.sku {
            return false;
        }
    }
    let total: i64 = lines
        .iter()
        .map(|&(sku, qty, _)| line_amount(market.catalog, sku, qty))
        .sum();

    // Payment attempts: a failure is retried (70%), sometimes with another method.
    let mut method = method_pick.sample(rng);
    let mut paid = false;
    for attempt in 0..3 {
        t += gap(rng, false).max(SECOND);
        let outage = method == OUTAGE_METHOD
            && market
                .incidents
                .payment_outage
                .is_some_and(|w| w.contains(t));
        let failed = rng.chance(if outage {
            OUTAGE_FAILURE
        } else {
            PAYMENT_FAILURE
        });
        let method_text = (!rng.chance(0.01)).then_some(METHODS[method]);
        out.payments
            .row(t + rng.below(2 * SECOND as u64) as i64)
            .ts(t)
            .int(Some(order_id))
            .int(Some(session.user))
            .money(Some(total))
            .text(Some(if failed { "failed" } else { "success" }))
            .text(method_text);
        if !failed {
            paid = true;
            break;
        }
        if attempt == 2 || !rng.chance(0.7) {
            break;
        }
        if rng.chance(0.5) {
            method = method_pick.sample(rng);
        }
    }
    if !paid {
        return false;
    }
    emit(out, t, "pay", rng);
    let region = (session.user as u64 % REGIONS.len() as u64) as usize;
    let attributed = !rng.chance(0.02);
    for (sku, qty, slot) in lines {
        ledger.take(t, sku, slot, qty);
        let item = &market.catalog.skus[sku];
        let amount = line_amount(market.catalog, sku, qty);
        out.orders
            .row(t + rng.below(2 * SECOND as u64) as i64)
            .ts(t)
            .int(Some(order_id))
            .int(Some(session.user))
            .int(Some(item.id))
            .int(Some(qty))
            .money(Some(item.list_price_cents))
            .money(Some(amount))
            .text(attributed.then_some(CHANNELS[session.channel]))
            .int(if attributed {
                session.campaign_id()
            } else {
                None
            })
            .text(Some(REGIONS[region]));
        out.lines.push(OrderLine {
            ts: t,
            order_id,
            user_id: session.user,
            sku,
            qty,
            amount_cents: amount,
            warehouse: item.warehouses[slot as usize],
            region,
        });
    }
    true
}

/// One clickstream row (two, for the duplicates real logs have), arriving a little late.
fn emit_event(
    events: &mut TableWriter,
    session: &Session,
    sku_id: i64,
    t: i64,
    event: &str,
    rng: &mut Rng,
) {
    let channel = (!rng.chance(0.03)).then_some(CHANNELS[session.channel]);
    let session_id = (!rng.chance(0.01)).then_some(session.id);
    // Most events land within 3 s; one in twenty arrives up to 3 minutes late.
    let delay = if rng.chance(0.95) {
        rng.below(3 * SECOND as u64) as i64
    } else {
        rng.range(3 * SECOND, 180 * SECOND)
    };
    let copies = if rng.chance(0.01) { 2 } else { 1 };
    for _ in 0..copies {
        events
            .row(t + delay)
            .ts(t)
            .int(Some(session.user))
            .int(session_id)
            .text(Some(event))
            .int(Some(sku_id))
            .text(channel);
    }
}

/// The promo price of `qty` units, in cents.
fn line_amount(catalog: &Catalog, sku: usize, qty: i64) -> i64 {
    let item = &catalog.skus[sku];
    item.list_price_cents * qty * item.promo_percent / 100
}
