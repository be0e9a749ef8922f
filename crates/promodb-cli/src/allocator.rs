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
