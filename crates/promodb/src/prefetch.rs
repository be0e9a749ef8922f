//! Software prefetch for loops that touch one random cache line per row (a group's slot
//! or state in a table far larger than the caches): asking for the line of a row a few
//! rows ahead lets the memory misses of several rows overlap.

/// How many rows ahead of the current one to prefetch: enough to cover a memory latency
/// with the work of the rows in between.
pub(crate) const PREFETCH_DISTANCE: usize = 16;

/// Asks the CPU to start loading the cache line of `item`.
#[inline(always)]
pub(crate) fn prefetch<T>(item: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it reads nothing, cannot fault, and the pointer
    // comes from a live reference.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>((item as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = item;
}
