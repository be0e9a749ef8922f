//! The open-addressing table under both group tables: fixed-size keys -> dense group
//! index.
//!
//! Linear probing over `(key, group)` slots, so that looking a key up touches one cache
//! line, where DataFusion's generic table touches three (control bytes, the
//! `(group, hash)` bucket, then the key itself). Per-user aggregations (funnels,
//! retention, RFM) intern every event into a table of a million users or more, far
//! larger than the caches, so each lookup is a cache miss: callers prefetch the slot of a
//! row a few rows ahead while probing the current one, so that the misses overlap.

use datafusion::common::{DataFusionError, Result};

use crate::prefetch::{PREFETCH_DISTANCE, prefetch};

/// A slot's `group` when it holds no key.
const EMPTY: u32 = u32::MAX;

/// The fewest slots a table has, so small tables never resize.
const MIN_SLOTS: usize = 1024;

/// Below this many keys the slots in use stay in the caches, and prefetching them only
/// costs (a `GROUP BY channel` of 10M rows took 10% longer with it).
const PREFETCH_MIN_KEYS: usize = 1 << 14;

/// How many rows are interned between two checks of [`PREFETCH_MIN_KEYS`].
const PREFETCH_DECISION_ROWS: usize = 4096;

/// Fibonacci hashing's multiplier (2^64 / golden ratio): consecutive ids, the usual shape
/// of user and SKU ids, land far apart.
const FIBONACCI: u64 = 0x9E37_79B9_7F4A_7C15;

/// A key the slots can hold: small, compared by value, and spread by [`SlotKey::spread`].
pub(super) trait SlotKey: Copy + PartialEq + Default {
    /// 64 bits whose top bits pick the key's home slot.
    fn spread(self) -> u64;
}

impl SlotKey for i64 {
    fn spread(self) -> u64 {
        (self as u64).wrapping_mul(FIBONACCI)
    }
}

impl SlotKey for u128 {
    fn spread(self) -> u64 {
        let low = self as u64;
        let high = (self >> 64) as u64;
        (low.wrapping_mul(FIBONACCI) ^ high).wrapping_mul(FIBONACCI)
    }
}

/// The home slot of `key` in slots that `shift` belongs to.
#[inline(always)]
fn home<K: SlotKey>(key: K, shift: u32) -> usize {
    (key.spread() >> shift) as usize
}

/// Rows at the start of a chunk compared with the row before, to decide whether the
/// chunk's rows repeat their keys.
const RUN_PROBE_ROWS: usize = 32;

/// Whether at least half of the first [`RUN_PROBE_ROWS`] rows of `start..end` have the
/// key of the row before.
fn repeats_keys<K: PartialEq>(
    start: usize,
    end: usize,
    key_of: &mut impl FnMut(usize) -> K,
) -> bool {
    let probed = start + 1..end.min(start + 1 + RUN_PROBE_ROWS);
    let probed_rows = probed.len();
    let repeats = probed.filter(|&row| key_of(row) == key_of(row - 1)).count();
    probed_rows > 0 && 2 * repeats >= probed_rows
}

/// A key beside its group: an integer slot is 16 bytes, a text slot 32, aligned so that
/// no slot straddles two cache lines.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(16))]
struct Slot<K> {
    key: K,
    group: u32,
}

/// The owner of a table's groups, called while keys are interned: it confirms matches
/// and numbers new groups.
pub(super) trait GroupOwner<K> {
    /// Whether row `row`, whose key `key` equals the key stored with `group`, belongs to
    /// that group: always, unless keys are digests of longer values.
    fn row_is_in_group(&self, row: usize, key: K, group: u32) -> bool;

    /// Adds a group for row `row`, whose key is `key`, and returns its index.
    fn add_group(&mut self, row: usize, key: K) -> u32;

    /// The number of groups.
    fn group_count(&self) -> usize;

    /// The key stored in the slots for `group`, or `None` for a group the slots do not
    /// hold (an integer table's NULL group). Growing re-inserts the keys from here, in
    /// group order: a dense walk, where walking the old slots reads 2-4 times the bytes.
    fn stored_key(&self, group: usize) -> Option<K>;
}

/// Maps keys to the group indexes their owner hands out.
#[derive(Debug)]
pub(super) struct GroupSlots<K> {
    slots: Vec<Slot<K>>,
    /// `64 - log2(slots.len())`: a key's top spread bits pick its home slot.
    shift: u32,
    /// The keys stored.
    keys: usize,
}

impl<K: SlotKey> GroupSlots<K> {
    pub(super) fn new() -> Self {
        Self::with_slots(MIN_SLOTS)
    }

    fn with_slots(count: usize) -> Self {
        Self {
            slots: vec![
                Slot {
                    key: K::default(),
                    group: EMPTY,
                };
                count
            ],
            shift: 64 - count.trailing_zeros(),
            keys: 0,
        }
    }

    /// Bytes held.
    pub(super) fn size(&self) -> usize {
        self.slots.capacity() * size_of::<Slot<K>>()
    }

    /// Writes the group of each of `rows` rows, whose keys `key_of` gives, to `groups`,
    /// asking `owner` to confirm a stored key's group and to add a group for each key
    /// not stored yet. Call [`GroupSlots::reserve`] for the rows first.
    pub(super) fn intern(
        &mut self,
        rows: usize,
        mut key_of: impl FnMut(usize) -> K,
        groups: &mut Vec<usize>,
        owner: &mut impl GroupOwner<K>,
    ) {
        groups.clear();
        groups.reserve(rows);
        // Whether to prefetch is decided per chunk of rows: until the table outgrows the
        // caches, which may happen within a large batch, a prefetch only costs, and
        // deciding per row cost 8% of a `GROUP BY channel`.
        for start in (0..rows).step_by(PREFETCH_DECISION_ROWS) {
            let end = rows.min(start + PREFETCH_DECISION_ROWS);
            // Rows in time order repeat their key (`GROUP BY date_trunc('minute', ts)`:
            // 400 rows a minute), and a row with the key of the row before is in its
            // group without a lookup (the lookups were 13% of a per-minute rollup).
            // Whether to look at the row before is decided per chunk, from its first
            // rows, so that keys in no order (channels after a join) do not pay for it.
            if self.keys < PREFETCH_MIN_KEYS && repeats_keys(start, end, &mut key_of) {
                let mut before: Option<(K, usize)> = None;
                groups.extend((start..end).map(|row| {
                    let key = key_of(row);
                    if let Some((key_before, group)) = before
                        && key_before == key
                        && owner.row_is_in_group(row, key, group as u32)
                    {
                        return group;
                    }
                    let group = self.group_of(row, key, owner);
                    before = Some((key, group));
                    group
                }));
                continue;
            }
            if self.keys < PREFETCH_MIN_KEYS {
                groups.extend((start..end).map(|row| self.group_of(row, key_of(row), owner)));
                continue;
            }
            // The slot of the row `PREFETCH_DISTANCE` rows ahead starts loading while this
            // row's is probed; that row's key is computed again when its turn comes,
            // which is cheaper than keeping it (a 10M-row `GROUP BY user_id` ran 10%
            // slower with a ring of keys).
            groups.extend((start..end).map(|row| {
                let row_ahead = row + PREFETCH_DISTANCE;
                if row_ahead < rows {
                    prefetch(&self.slots[home(key_of(row_ahead), self.shift)]);
                }
                self.group_of(row, key_of(row), owner)
            }));
        }
    }

    /// The group of row `row`, whose key is `key`.
    #[inline(always)]
    fn group_of(&mut self, row: usize, key: K, owner: &mut impl GroupOwner<K>) -> usize {
        let mask = self.slots.len() - 1;
        let mut position = home(key, self.shift);
        loop {
            let slot = &mut self.slots[position];
            if slot.group == EMPTY {
                let new_group = owner.add_group(row, key);
                *slot = Slot {
                    key,
                    group: new_group,
                };
                self.keys += 1;
                if self.keys * 2 > self.slots.len() {
                    self.grow(owner);
                }
                return new_group as usize;
            }
            if slot.key == key && owner.row_is_in_group(row, key, slot.group) {
                return slot.group as usize;
            }
            position = (position + 1) & mask;
        }
    }

    /// Makes room for up to `additional` more keys: fails if they could number more
    /// groups than a slot can hold, and grows the slots ahead for them while that at
    /// most doubles the keys held. More keys than that (a large batch, such as a
    /// window's output, often holds a few keys in many rows) grow the table as they come.
    pub(super) fn reserve(&mut self, additional: usize, owner: &impl GroupOwner<K>) -> Result<()> {
        if self.keys + additional >= EMPTY as usize {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "a group table holds at most {} groups",
                EMPTY - 1
            )));
        }
        if additional <= self.keys {
            while (self.keys + additional) * 2 > self.slots.len() {
                self.grow(owner);
            }
        }
        Ok(())
    }

    /// Empties the slots, keeping their memory.
    pub(super) fn clear(&mut self) {
        self.slots.fill(Slot {
            key: K::default(),
            group: EMPTY,
        });
        self.keys = 0;
    }

    /// Slots holding the `keys` keys `owner` stores, with room for as many again.
    pub(super) fn holding(keys: usize, owner: &impl GroupOwner<K>) -> Self {
        let mut slots = Self::with_slots((4 * keys).next_power_of_two().max(MIN_SLOTS));
        slots.keys = keys;
        slots.insert_stored(owner);
        slots
    }

    /// Doubles the slots, re-inserting the keys `owner` stores.
    fn grow(&mut self, owner: &impl GroupOwner<K>) {
        let keys = self.keys;
        *self = Self::with_slots(self.slots.len() * 2);
        self.keys = keys;
        self.insert_stored(owner);
    }

    /// Inserts the keys `owner` stores into empty slots.
    fn insert_stored(&mut self, owner: &impl GroupOwner<K>) {
        let mask = self.slots.len() - 1;
        let shift = self.shift;
        let groups = owner.group_count();
        // Rehashing a million keys is a million random writes: prefetched like lookups.
        for group in 0..groups {
            let ahead = (group + PREFETCH_DISTANCE < groups)
                .then(|| owner.stored_key(group + PREFETCH_DISTANCE))
                .flatten();
            if let Some(ahead) = ahead {
                prefetch(&self.slots[home(ahead, shift)]);
            }
            let Some(key) = owner.stored_key(group) else {
                continue;
            };
            let mut position = home(key, shift);
            while self.slots[position].group != EMPTY {
                position = (position + 1) & mask;
            }
            self.slots[position] = Slot {
                key,
                group: group as u32,
            };
        }
    }

    /// The number of slots (twice the keys they can hold).
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.slots.len()
    }
}
