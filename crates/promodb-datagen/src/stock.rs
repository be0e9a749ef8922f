//! Stock per (SKU, warehouse): what orders take, and the `inventory` snapshots every five
//! minutes that show it falling.

use promodb::schema::Table;

use crate::catalog::{Catalog, WAREHOUSES};
use crate::table_writer::TableWriter;

/// Minutes between inventory snapshots.
pub(crate) const SNAPSHOT_MINUTES: i64 = 5;

/// Stock levels while the promo runs, and every change, for the snapshots.
#[derive(Debug)]
pub(crate) struct StockLedger {
    /// on_hand per (sku index, warehouse slot 0 or 1).
    on_hand: Vec<[i64; 2]>,
    initial: Vec<[i64; 2]>,
    /// (ts, sku index, slot, units taken)
    moves: Vec<(i64, u32, u8, i64)>,
}

impl StockLedger {
    /// `initial[i]` units of SKU i, split 60/40 over its warehouses when it has two.
    pub(crate) fn new(catalog: &Catalog, initial: &[i64]) -> Self {
        let on_hand: Vec<[i64; 2]> = catalog
            .skus
            .iter()
            .zip(initial)
            .map(|(sku, &units)| {
                if sku.warehouses.len() == 2 {
                    let first = units * 6 / 10;
                    [first, units - first]
                } else {
                    [units, 0]
                }
            })
            .collect();
        StockLedger {
            initial: on_hand.clone(),
            on_hand,
            moves: Vec::new(),
        }
    }

    /// The warehouse slot that can ship `qty` of SKU `sku` (the fuller one), if any.
    pub(crate) fn available(&self, sku: usize, qty: i64) -> Option<u8> {
        let [a, b] = self.on_hand[sku];
        if a >= b && a >= qty {
            Some(0)
        } else if b >= qty {
            Some(1)
        } else if a >= qty {
            Some(0)
        } else {
            None
        }
    }

    pub(crate) fn take(&mut self, ts: i64, sku: usize, slot: u8, qty: i64) {
        self.on_hand[sku][slot as usize] -= qty;
        self.moves.push((ts, sku as u32, slot, qty));
    }

    /// When SKU `sku`'s total stock first reached 0, if it did.
    pub(crate) fn sold_out_at(&self, sku: usize) -> Option<i64> {
        let mut left = self.initial[sku][0] + self.initial[sku][1];
        let mut moves: Vec<&(i64, u32, u8, i64)> =
            self.moves.iter().filter(|m| m.1 as usize == sku).collect();
        moves.sort_by_key(|m| m.0);
        for (ts, _, _, qty) in moves {
            left -= qty;
            if left <= 0 {
                return Some(*ts);
            }
        }
        None
    }

    /// Snapshots of every (sku, warehouse) every five minutes from `start` through `end`.
    pub(crate) fn snapshots(&self, catalog: &Catalog, start: i64, end: i64) -> TableWriter {
        let mut moves = self.moves.clone();
        moves.sort_by_key(|m| m.0);
        let mut level = self.initial.clone();
        let mut next_move = 0;
        let mut out = TableWriter::new(Table::Inventory);
        let step = SNAPSHOT_MINUTES * 60_000_000;
        let mut at = start;
        while at <= end {
            while next_move < moves.len() && moves[next_move].0 <= at {
                let (_, sku, slot, qty) = moves[next_move];
                level[sku as usize][slot as usize] -= qty;
                next_move += 1;
            }
            for (i, sku) in catalog.skus.iter().enumerate() {
                for (slot, &warehouse) in sku.warehouses.iter().enumerate() {
                    out.row(at)
                        .ts(at)
                        .int(Some(sku.id))
                        .text(Some(WAREHOUSES[warehouse]))
                        .int(Some(level[i][slot]));
                }
            }
            at += step;
        }
        out
    }
}
