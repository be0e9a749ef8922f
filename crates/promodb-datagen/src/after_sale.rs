//! What follows an order: refunds, customer-service tickets and shipments.

use promodb::schema::Table;

use crate::catalog::{Catalog, WAREHOUSES};
use crate::rng::Rng;
use crate::shopping::OrderLine;
use crate::table_writer::TableWriter;

const MINUTE: i64 = 60_000_000;
const HOUR: i64 = 60 * MINUTE;
const REFUND_REASONS: [&str; 4] = ["changed_mind", "wrong_size", "defective", "late_delivery"];
const TICKET_KINDS: [&str; 3] = ["question", "complaint", "return"];
const SHIPPING_REGIONS: [&str; 6] = ["east", "north", "south", "west", "central", "northeast"];

/// Refunds of about 5% of order lines (10% in apparel, where sizes go wrong), 20 minutes
/// to 8 hours after the order.
pub(crate) fn refunds(lines: &[OrderLine], catalog: &Catalog, rng: &mut Rng) -> TableWriter {
    let mut out = TableWriter::new(Table::Refunds);
    for line in lines {
        let apparel = catalog.skus[line.sku].category == 0;
        if !rng.chance(if apparel { 0.10 } else { 0.05 }) {
            continue;
        }
        let ts = line.ts + rng.range(20 * MINUTE, 8 * HOUR);
        let reason = (!rng.chance(0.1))
            .then(|| REFUND_REASONS[rng.below(REFUND_REASONS.len() as u64) as usize]);
        out.row(ts)
            .ts(ts)
            .int(Some(line.order_id))
            .int(Some(catalog.skus[line.sku].id))
            .int(Some(line.qty))
            .money(Some(line.amount_cents))
            .text(reason);
    }
    out
}

/// Tickets on about 3% of orders, plus questions from shoppers without an order.
pub(crate) fn tickets(
    lines: &[OrderLine],
    sessions: usize,
    start: i64,
    minutes: usize,
    id_base: i64,
    rng: &mut Rng,
) -> TableWriter {
    let mut out = TableWriter::new(Table::Tickets);
    let mut next_id = id_base + 1;
    let mut last_order = None;
    let mut write = |out: &mut TableWriter,
                     ts: i64,
                     order: Option<i64>,
                     user: i64,
                     kind: &str,
                     rng: &mut Rng| {
        let response = (!rng.chance(0.05)).then(|| rng.range(5, 900));
        let satisfaction = (!rng.chance(0.3)).then(|| rng.range(1, 6));
        out.row(ts)
            .ts(ts)
            .int(Some(next_id))
            .int(order)
            .int(Some(user))
            .text(Some(kind))
            .int(response)
            .int(satisfaction);
        next_id += 1;
    };
    for line in lines {
        if last_order == Some(line.order_id) {
            continue; // one draw per order, not per line
        }
        last_order = Some(line.order_id);
        if rng.chance(0.03) {
            let ts = line.ts + rng.range(10 * MINUTE, 12 * HOUR);
            let kind = TICKET_KINDS[rng.below(TICKET_KINDS.len() as u64) as usize];
            write(&mut out, ts, Some(line.order_id), line.user_id, kind, rng);
        }
    }
    for _ in 0..sessions / 200 {
        let ts = start + rng.below(minutes as u64 * MINUTE as u64) as i64;
        let user = rng.range(1, 1 + sessions as i64 / 3 + 1);
        write(&mut out, ts, None, id_base + user, "question", rng);
    }
    out
}

/// Every order is dispatched 1-12 h after payment, in transit 1-6 h later and delivered
/// 12-48 h after that; 4% are delayed on the way.
pub(crate) fn shipments(lines: &[OrderLine], rng: &mut Rng) -> TableWriter {
    let mut out = TableWriter::new(Table::Shipments);
    let mut last_order = None;
    for line in lines {
        if last_order == Some(line.order_id) {
            continue;
        }
        last_order = Some(line.order_id);
        let warehouse = (!rng.chance(0.01)).then_some(WAREHOUSES[line.warehouse]);
        let region = Some(SHIPPING_REGIONS[line.region]);
        let mut ts = line.ts + rng.range(HOUR, 12 * HOUR);
        let mut stages = vec!["dispatched", "in_transit"];
        if rng.chance(0.04) {
            stages.push("delayed");
        }
        stages.push("delivered");
        for stage in stages {
            out.row(ts)
                .ts(ts)
                .int(Some(line.order_id))
                .text(warehouse)
                .text(region)
                .text(Some(stage));
            ts += match stage {
                "dispatched" => rng.range(HOUR, 6 * HOUR),
                "delayed" => rng.range(12 * HOUR, 24 * HOUR),
                _ => rng.range(12 * HOUR, 48 * HOUR),
            };
        }
    }
    out
}
