//! Process-wide tuning: thread count and the allocator.

/// Uses `threads` worker threads for the maths (0 keeps the default: every core).
///
/// candle's matmul reads `RAYON_NUM_THREADS` on each call and the custom ops use rayon's global
/// pool, so both are set. Call once at start-up, before any other thread exists.
pub fn set_threads(threads: usize) {
    if threads == 0 {
        return;
    }
    std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    // Fails only if the pool already exists, in which case it keeps its size.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global();
}

/// Keeps large tensors on the heap instead of a fresh `mmap` each: without this, page faults
/// and zeroing of new mappings cost about a quarter of training time.
///
/// One arena for all threads: a worker thread's own arena grows in 64 MiB heaps that glibc
/// unmaps as soon as they empty, so training off the main thread (the dashboard, ablations)
/// kept re-faulting its tensors and ran up to 1.5x slower, worse each epoch.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocation settings; it is called before any
    // other thread allocates, and invalid values are rejected by glibc, not undefined.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
