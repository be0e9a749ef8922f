//! Deterministic synthetic batches for the benchmarks (a small xorshift generator, so the
//! benches need no data files and produce the same rows on every run).

use std::sync::Arc;

use promodb::arrow::array::{
    Decimal128Array, Int64Array, RecordBatch, StringViewArray, TimestampMicrosecondArray,
};
use promodb::arrow::datatypes::Schema;
use promodb::schema::Table;

/// 2026-11-11T00:00:00Z in microseconds.
pub const PROMO_START_MICROS: i64 = 1_794_355_200_000_000;

const CHANNELS: [&str; 5] = ["live_stream", "short_video", "search", "ads", "organic"];
const EVENT_TYPES: [&str; 5] = ["view", "click", "add_to_cart", "checkout", "pay"];

/// A seeded xorshift64* generator.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is replaced by a fixed non-zero seed).
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

fn schema(table: Table) -> Arc<Schema> {
    table.arrow_schema()
}

/// `rows` canonical `user_events` rows in batches of `batch_rows`, over one day.
pub fn user_events(rows: usize, batch_rows: usize, seed: u64) -> Vec<RecordBatch> {
    let mut rng = Rng::new(seed);
    let mut batches = Vec::with_capacity(rows.div_ceil(batch_rows));
    let mut done = 0;
    while done < rows {
        let n = batch_rows.min(rows - done);
        let ts: Vec<i64> = (0..n)
            .map(|i| PROMO_START_MICROS + ((done + i) as i64) * 86_400_000_000 / rows as i64)
            .collect();
        let users: Vec<i64> = (0..n).map(|_| rng.below(500_000) as i64).collect();
        let sessions: Vec<Option<i64>> = users
            .iter()
            .map(|u| Some(u * 4 + rng.below(4) as i64))
            .collect();
        let events: Vec<&str> = (0..n).map(|_| EVENT_TYPES[rng.below(5) as usize]).collect();
        let skus: Vec<Option<i64>> = (0..n).map(|_| Some(rng.below(10_000) as i64)).collect();
        let channels: Vec<Option<&str>> = (0..n)
            .map(|_| match rng.below(50) {
                0 => None,
                k => Some(CHANNELS[(k % 5) as usize]),
            })
            .collect();
        let batch = RecordBatch::try_new(
            schema(Table::UserEvents),
            vec![
                Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
                Arc::new(Int64Array::from(users)),
                Arc::new(Int64Array::from(sessions)),
                Arc::new(StringViewArray::from(events)),
                Arc::new(Int64Array::from(skus)),
                Arc::new(StringViewArray::from(channels)),
            ],
        )
        .expect("user_events batch");
        batches.push(batch);
        done += n;
    }
    batches
}

/// `rows` canonical `orders` rows in batches of `batch_rows`, over one day.
pub fn orders(rows: usize, batch_rows: usize, seed: u64) -> Vec<RecordBatch> {
    let mut rng = Rng::new(seed);
    let mut batches = Vec::with_capacity(rows.div_ceil(batch_rows));
    let mut done = 0;
    while done < rows {
        let n = batch_rows.min(rows - done);
        let ts: Vec<i64> = (0..n)
            .map(|i| PROMO_START_MICROS + ((done + i) as i64) * 86_400_000_000 / rows as i64)
            .collect();
        let order_ids: Vec<i64> = (0..n).map(|i| (done + i) as i64).collect();
        let qty: Vec<i64> = (0..n).map(|_| 1 + rng.below(3) as i64).collect();
        let prices: Vec<i128> = (0..n)
            .map(|_| 990 + i128::from(rng.below(50_000) as u32))
            .collect();
        let amounts: Vec<i128> = prices
            .iter()
            .zip(&qty)
            .map(|(p, q)| p * i128::from(*q))
            .collect();
        let channels: Vec<Option<&str>> = (0..n)
            .map(|_| match rng.below(50) {
                0 => None,
                k => Some(CHANNELS[(k % 5) as usize]),
            })
            .collect();
        let money = |v: Vec<i128>| {
            Decimal128Array::from(v)
                .with_precision_and_scale(18, 2)
                .expect("decimal(18,2)")
        };
        let batch = RecordBatch::try_new(
            schema(Table::Orders),
            vec![
                Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
                Arc::new(Int64Array::from(order_ids)),
                Arc::new(Int64Array::from(
                    (0..n)
                        .map(|_| rng.below(500_000) as i64)
                        .collect::<Vec<_>>(),
                )),
                Arc::new(Int64Array::from(
                    (0..n).map(|_| rng.below(10_000) as i64).collect::<Vec<_>>(),
                )),
                Arc::new(Int64Array::from(qty)),
                Arc::new(money(prices)),
                Arc::new(money(amounts)),
                Arc::new(StringViewArray::from(channels)),
                Arc::new(Int64Array::from(
                    (0..n)
                        .map(|_| Some(rng.below(100) as i64))
                        .collect::<Vec<_>>(),
                )),
                Arc::new(StringViewArray::from(
                    (0..n)
                        .map(|_| Some(["east", "north", "south", "west"][rng.below(4) as usize]))
                        .collect::<Vec<_>>(),
                )),
            ],
        )
        .expect("orders batch");
        batches.push(batch);
        done += n;
    }
    batches
}
