//! Which tables received rows since when: what alert evaluation after appends waits on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use crate::schema::Table;

/// Per-table append counters, and a generation that wakes waiters on any append.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    versions: [AtomicU64; Table::ALL.len()],
    generation: Mutex<u64>,
    changed: Condvar,
}

impl Changes {
    /// Records rows appended to `table`.
    pub(crate) fn bump(&self, table: Table) {
        self.versions[table as usize].fetch_add(1, Ordering::SeqCst);
        let mut generation = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        *generation += 1;
        self.changed.notify_all();
    }

    /// Each table's counter, in [`Table::ALL`] order.
    pub(crate) fn versions(&self) -> [u64; Table::ALL.len()] {
        std::array::from_fn(|i| self.versions[i].load(Ordering::SeqCst))
    }

    /// The generation now.
    pub(crate) fn generation(&self) -> u64 {
        *self.generation.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until the generation passes `seen` or `deadline` comes; returns the
    /// generation then.
    pub(crate) fn wait_past(&self, seen: u64, deadline: Instant) -> u64 {
        let mut generation = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        while *generation <= seen {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            generation = self
                .changed
                .wait_timeout(generation, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *generation
    }
}
