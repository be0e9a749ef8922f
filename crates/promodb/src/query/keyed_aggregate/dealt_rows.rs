//! The compact rows `BucketedAggregateExec` deals to its buckets: 16 bytes while every
//! key lies within 2^31 of a base the deal picks, 24 bytes for any key.
//!
//! Every input row is written to its bucket once and read back once, from memory, so
//! the row's size is most of what the deal costs (the stores of the 24-byte rows were
//! more than half of the deal's samples in perf). A narrow row keeps the full `ts` and
//! all 32 condition bits, and its key as a 31-bit offset from the base; user ids, SKUs,
//! days and the like fit. An input partition deals narrow rows until a batch holds a
//! key out of reach, then widens what it dealt and goes on wide; if any partition did,
//! every partition's rows are widened before they are aggregated.

use std::sync::OnceLock;

use datafusion::arrow::array::{Array, Int64Array};

use crate::functions::EventRow;

/// A dealt row: its key, and its event if the aggregate takes it.
pub(super) trait DealtRow: Copy + Send + Sync + 'static {
    /// The row of `key` (None: NULL) and `event` (None: a row the aggregate skips), in a
    /// deal whose narrow keys are offsets from `base`, which `key` must fit.
    fn new(key: Option<i64>, event: Option<EventRow>, base: i64) -> Self;

    /// The row's key (None: NULL), in a deal whose narrow keys are offsets from `base`.
    fn key(&self, base: i64) -> Option<i64>;

    /// The row's event, None when the aggregate skips the row.
    fn event(&self) -> Option<EventRow>;

    /// The buckets, if they hold rows of this layout.
    fn rows_of(buckets: &Buckets) -> Option<&[Vec<Self>]>;
}

/// A row whose key is an offset from the deal's base: 16 bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct NarrowRow {
    ts: i64,
    /// The key's offset from the base (or [`NULL_OFFSET`]), and [`COUNTS`].
    key: u32,
    mask: u32,
}

/// [`NarrowRow::key`]: set when the aggregate takes the row.
const COUNTS: u32 = 1 << 31;
/// [`NarrowRow::key`]: the offset of a NULL key.
const NULL_OFFSET: u32 = COUNTS - 1;
/// The largest offset of a key from the base.
const MAX_OFFSET: i64 = NULL_OFFSET as i64 - 1;

impl DealtRow for NarrowRow {
    #[inline(always)]
    fn new(key: Option<i64>, event: Option<EventRow>, base: i64) -> Self {
        let offset = match key {
            Some(key) => {
                debug_assert!((0..=MAX_OFFSET).contains(&key.wrapping_sub(base)));
                key.wrapping_sub(base) as u32
            }
            None => NULL_OFFSET,
        };
        match event {
            Some(event) => NarrowRow {
                ts: event.ts,
                key: offset | COUNTS,
                mask: event.mask,
            },
            None => NarrowRow {
                ts: 0,
                key: offset,
                mask: 0,
            },
        }
    }

    #[inline(always)]
    fn key(&self, base: i64) -> Option<i64> {
        let offset = self.key & !COUNTS;
        (offset != NULL_OFFSET).then(|| base.wrapping_add(i64::from(offset)))
    }

    #[inline(always)]
    fn event(&self) -> Option<EventRow> {
        (self.key & COUNTS != 0).then_some(EventRow {
            ts: self.ts,
            mask: self.mask,
        })
    }

    fn rows_of(buckets: &Buckets) -> Option<&[Vec<Self>]> {
        match buckets {
            Buckets::Narrow(rows) => Some(rows),
            Buckets::Wide(_) => None,
        }
    }
}

/// A row with its whole key: 24 bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct WideRow {
    key: i64,
    ts: i64,
    mask: u32,
    /// [`WIDE_COUNTS`] and [`WIDE_NULL_KEY`].
    flags: u32,
}

/// [`WideRow::flags`]: the aggregate takes the row.
const WIDE_COUNTS: u32 = 1;
/// [`WideRow::flags`]: the key is NULL.
const WIDE_NULL_KEY: u32 = 2;

impl DealtRow for WideRow {
    #[inline(always)]
    fn new(key: Option<i64>, event: Option<EventRow>, _base: i64) -> Self {
        let null_key = if key.is_none() { WIDE_NULL_KEY } else { 0 };
        let (ts, mask, counts) = match event {
            Some(event) => (event.ts, event.mask, WIDE_COUNTS),
            None => (0, 0, 0),
        };
        WideRow {
            key: key.unwrap_or(0),
            ts,
            mask,
            flags: counts | null_key,
        }
    }

    #[inline(always)]
    fn key(&self, _base: i64) -> Option<i64> {
        (self.flags & WIDE_NULL_KEY == 0).then_some(self.key)
    }

    #[inline(always)]
    fn event(&self) -> Option<EventRow> {
        (self.flags & WIDE_COUNTS != 0).then_some(EventRow {
            ts: self.ts,
            mask: self.mask,
        })
    }

    fn rows_of(buckets: &Buckets) -> Option<&[Vec<Self>]> {
        match buckets {
            Buckets::Wide(rows) => Some(rows),
            Buckets::Narrow(_) => None,
        }
    }
}

/// One input partition's rows, bucket by bucket, narrow while every key fits.
#[derive(Debug)]
pub(super) enum Buckets {
    Narrow(Vec<Vec<NarrowRow>>),
    Wide(Vec<Vec<WideRow>>),
}

impl Buckets {
    /// `count` empty buckets of narrow rows, each with room for `capacity` rows.
    pub(super) fn narrow(count: usize, capacity: usize) -> Self {
        Buckets::Narrow((0..count).map(|_| Vec::with_capacity(capacity)).collect())
    }

    /// The bytes a narrow bucket of `rows` rows holds.
    pub(super) fn narrow_bytes(rows: usize) -> usize {
        rows * size_of::<NarrowRow>()
    }

    /// Turns narrow rows, whose keys are offsets from `base`, into wide rows, each
    /// bucket keeping its room for more.
    pub(super) fn widen(&mut self, base: i64) {
        if let Buckets::Narrow(buckets) = self {
            let wide = buckets
                .iter()
                .map(|rows| {
                    let mut wide = Vec::with_capacity(rows.capacity());
                    wide.extend(
                        rows.iter()
                            .map(|row| WideRow::new(row.key(base), row.event(), base)),
                    );
                    wide
                })
                .collect();
            *self = Buckets::Wide(wide);
        }
    }

    /// The bytes the buckets will hold once widened.
    pub(super) fn widened_bytes(&self) -> usize {
        match self {
            Buckets::Narrow(buckets) => {
                buckets.iter().map(Vec::capacity).sum::<usize>() * size_of::<WideRow>()
            }
            Buckets::Wide(_) => self.held_bytes(),
        }
    }

    pub(super) fn is_wide(&self) -> bool {
        matches!(self, Buckets::Wide(_))
    }

    /// The bytes the buckets hold.
    pub(super) fn held_bytes(&self) -> usize {
        match self {
            Buckets::Narrow(buckets) => {
                buckets.iter().map(Vec::capacity).sum::<usize>() * size_of::<NarrowRow>()
            }
            Buckets::Wide(buckets) => {
                buckets.iter().map(Vec::capacity).sum::<usize>() * size_of::<WideRow>()
            }
        }
    }
}

/// The base of one deal's narrow keys, shared by its input partitions: set from the
/// first batch with a key, 2^30 below its least key, so that keys up to about 2^30 on
/// either side of it fit.
#[derive(Debug, Default)]
pub(super) struct KeyBase(OnceLock<i64>);

impl KeyBase {
    /// The base, if every key of `keys` (NULLs aside) fits a narrow row; None if they
    /// need wide rows.
    pub(super) fn fitting(&self, keys: &Int64Array) -> Option<i64> {
        let Some((least, greatest)) = key_range(keys) else {
            // Only NULL keys: any base does.
            return Some(self.get());
        };
        let base = *self.0.get_or_init(|| least.saturating_sub(1 << 30));
        let fits =
            least >= base && i128::from(greatest) - i128::from(base) <= i128::from(MAX_OFFSET);
        fits.then_some(base)
    }

    /// The base (0 while no key has set it).
    pub(super) fn get(&self) -> i64 {
        self.0.get().copied().unwrap_or(0)
    }
}

/// The least and greatest key, NULLs aside, in one pass (arrow's `min` and `max`
/// kernels, one pass each, were 3% of the 4-step funnel's samples).
fn key_range(keys: &Int64Array) -> Option<(i64, i64)> {
    let widen = |(least, greatest): (i64, i64), key: i64| (least.min(key), greatest.max(key));
    let range = match keys.nulls().filter(|nulls| nulls.null_count() > 0) {
        None => keys
            .values()
            .iter()
            .copied()
            .fold((i64::MAX, i64::MIN), widen),
        Some(nulls) => nulls
            .valid_indices()
            .map(|row| keys.values()[row])
            .fold((i64::MAX, i64::MIN), widen),
    };
    (range.0 <= range.1).then_some(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    use datafusion::arrow::buffer::NullBuffer;

    fn events() -> [Option<EventRow>; 4] {
        [
            None,
            Some(EventRow { ts: 0, mask: 0 }),
            Some(EventRow {
                ts: i64::MIN,
                mask: u32::MAX,
            }),
            Some(EventRow {
                ts: i64::MAX,
                mask: 1 << 31,
            }),
        ]
    }

    #[test]
    fn rows_give_back_their_key_and_event_in_both_layouts() {
        for base in [0, -5, i64::MIN, i64::MAX - MAX_OFFSET] {
            let keys = [None, Some(base), Some(base.wrapping_add(MAX_OFFSET))];
            for key in keys {
                for event in events() {
                    let narrow = NarrowRow::new(key, event, base);
                    assert_eq!((narrow.key(base), narrow.event()), (key, event));
                    let wide = WideRow::new(key, event, base);
                    assert_eq!((wide.key(base), wide.event()), (key, event));
                }
            }
        }
        for key in [None, Some(i64::MIN), Some(-1), Some(i64::MAX)] {
            for event in events() {
                let wide = WideRow::new(key, event, 0);
                assert_eq!((wide.key(0), wide.event()), (key, event));
            }
        }
        assert_eq!(size_of::<NarrowRow>(), 16);
    }

    #[test]
    fn the_base_is_set_once_and_keys_past_its_reach_need_wide_rows() {
        let base = KeyBase::default();
        let nulls = Int64Array::from(vec![None, None]);
        assert_eq!(base.fitting(&nulls), Some(0), "no key sets no base");
        let first = Int64Array::from(vec![Some(5_000), None, Some(2_000)]);
        let set = 2_000 - (1 << 30);
        assert_eq!(base.fitting(&first), Some(set));
        let reach = set + MAX_OFFSET;
        assert_eq!(base.fitting(&Int64Array::from(vec![set, reach])), Some(set));
        assert_eq!(base.fitting(&Int64Array::from(vec![reach + 1])), None);
        assert_eq!(base.fitting(&Int64Array::from(vec![set - 1])), None);
        assert_eq!(base.fitting(&nulls), Some(set));
        assert_eq!(base.get(), set);

        // A NULL slot's value is not a key, whatever it holds.
        let hidden = Int64Array::new(
            vec![set, i64::MAX, reach].into(),
            Some(NullBuffer::from(vec![true, false, true])),
        );
        assert_eq!(base.fitting(&hidden), Some(set));
        assert_eq!(key_range(&hidden), Some((set, reach)));
        assert_eq!(key_range(&Int64Array::from(Vec::<i64>::new())), None);

        let low = KeyBase::default();
        assert_eq!(
            low.fitting(&Int64Array::from(vec![i64::MIN])),
            Some(i64::MIN)
        );
        let spread = KeyBase::default();
        assert_eq!(spread.fitting(&Int64Array::from(vec![0, 1 << 40])), None);
    }

    #[test]
    fn widened_buckets_hold_the_same_rows() {
        let base = -7;
        let rows: Vec<NarrowRow> = [None, Some(-7), Some(100)]
            .into_iter()
            .flat_map(|key| events().map(move |event| NarrowRow::new(key, event, base)))
            .collect();
        let mut buckets = Buckets::Narrow(vec![rows.clone(), Vec::new()]);
        buckets.widen(base);
        let Buckets::Wide(wide) = &buckets else {
            panic!("widened");
        };
        assert!(wide[1].is_empty());
        let read = |key: Option<i64>, event| (key, event);
        let narrow: Vec<_> = rows.iter().map(|r| read(r.key(base), r.event())).collect();
        let widened: Vec<_> = wide[0].iter().map(|r| read(r.key(0), r.event())).collect();
        assert_eq!(narrow, widened);
    }
}
