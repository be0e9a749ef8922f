//! glibc's allocator, told to keep the memory a query frees for the next one.
//!
//! By default glibc hands big allocations (from 128 KiB) straight to the kernel and
//! gives freed heap back as soon as 128 KiB are free at its top. A query allocates and
//! frees hundreds of MiB of batches, hash tables and group states, so every query paid
//! page faults and page zeroing for memory the previous one had just returned: `perf`
//! showed them in every profile. Keeping that memory made the memory-heavy suite
//! queries 10-25% faster (docs/benchmarks.md); the cost is that the process keeps up to
//! its peak heap until it exits, which a CLI run does soon. A service linking promodb
//! chooses its own allocator (see docs/operations.md).

/// Keeps freed memory in the process: trims the heap only past 1 GiB free, grows it
/// 256 MiB at a time, and serves allocations up to 32 MiB (glibc's largest setting)
/// from the heap. Does nothing off glibc.
pub(crate) fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const GIB: libc::c_int = 1 << 30;
        const MIB: libc::c_int = 1 << 20;
        // SAFETY: mallopt only changes allocator parameters; it is called first thing in
        // main, before any other thread exists. A rejected value leaves the default.
        unsafe {
            libc::mallopt(libc::M_TRIM_THRESHOLD, GIB);
            libc::mallopt(libc::M_TOP_PAD, 256 * MIB);
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 * MIB);
        }
    }
}

/// The system allocator, asking the kernel to back each allocation of
/// [`HUGE_PAGE_MIN`] or more with 2 MiB pages.
///
/// glibc maps such allocations straight from the kernel (they are above its mmap
/// threshold), so a query's big buffers (a funnel's 80 MiB of events per partition, the
/// bucketed copy of them, hash tables of a million users) are fresh memory every time,
/// and with 4 KiB pages every 4 KiB of it costs a page fault. Where transparent huge
/// pages are in `madvise` mode (a common default), the hint makes that one fault per
/// 2 MiB. It is only a hint: without transparent huge pages nothing changes.
pub(crate) struct HugePageHint;

/// Allocations from this size on get the huge page hint: glibc's mmap threshold as set
/// by [`keep_freed_memory`], so that only memory mapped for the allocation alone is
/// advised (never a part of the shared heap).
pub(crate) const HUGE_PAGE_MIN: usize = 32 << 20;

/// The size of a transparent huge page on x86-64 and most arm64 kernels.
const HUGE_PAGE: usize = 2 << 20;

/// The whole huge pages inside an allocation of `size` bytes at address `start`, as an
/// address range, when the allocation is big enough to be advised.
fn huge_page_range(start: usize, size: usize) -> Option<std::ops::Range<usize>> {
    if start == 0 || size < HUGE_PAGE_MIN {
        return None;
    }
    let first = start.checked_next_multiple_of(HUGE_PAGE)?;
    let end = start.checked_add(size)? / HUGE_PAGE * HUGE_PAGE;
    (first < end).then_some(first..end)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn advise_huge_pages(ptr: *mut u8, size: usize) {
    if let Some(pages) = huge_page_range(ptr as usize, size) {
        let (start, end) = (pages.start, pages.end);
        // SAFETY: the range lies inside an allocation just made; MADV_HUGEPAGE changes
        // no contents, only how the kernel backs the pages, and a failure (no
        // transparent huge pages) is ignored.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn advise_huge_pages(_ptr: *mut u8, _size: usize) {}

// SAFETY: every call is forwarded to `System` unchanged; the hint only advises the
// kernel about memory the returned allocation owns.
unsafe impl std::alloc::GlobalAlloc for HugePageHint {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc`, passed on.
        let ptr = unsafe { std::alloc::System.alloc(layout) };
        advise_huge_pages(ptr, layout.size());
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        // Fresh mappings are zero already, and glibc knows it: the hint would come after
        // the pages were touched, so it is not given here.
        // SAFETY: the caller's contract for `alloc_zeroed`, passed on.
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: the caller's contract for `dealloc`, passed on.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc`, passed on.
        let new = unsafe { std::alloc::System.realloc(ptr, layout, new_size) };
        advise_huge_pages(new, new_size);
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_huge_pages_of_big_allocations_are_advised() {
        // glibc's mmap'd chunks start 16 bytes past a page boundary.
        let start = 7 * HUGE_PAGE + 16;
        assert_eq!(
            huge_page_range(start, HUGE_PAGE_MIN),
            Some(8 * HUGE_PAGE..(7 * HUGE_PAGE + HUGE_PAGE_MIN))
        );
        assert_eq!(
            huge_page_range(8 * HUGE_PAGE, HUGE_PAGE_MIN + 100),
            Some(8 * HUGE_PAGE..8 * HUGE_PAGE + HUGE_PAGE_MIN)
        );
        assert_eq!(huge_page_range(start, HUGE_PAGE_MIN - 1), None);
        assert_eq!(huge_page_range(0, HUGE_PAGE_MIN), None);
        assert_eq!(huge_page_range(usize::MAX - 10, HUGE_PAGE_MIN), None);
    }

    #[test]
    fn big_buffers_come_back_whole_through_the_hint() {
        // The allocator under test is this binary's global allocator.
        let mut big = vec![7u8; HUGE_PAGE_MIN + 12_345];
        big.resize(2 * HUGE_PAGE_MIN, 9);
        assert!(big[..HUGE_PAGE_MIN + 12_345].iter().all(|&b| b == 7));
        assert!(big[HUGE_PAGE_MIN + 12_345..].iter().all(|&b| b == 9));
    }
}
