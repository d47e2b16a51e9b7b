//! The allocator every Orthrus binary uses, and how a batch run tunes it.
//!
//! mimalloc rather than glibc malloc: decoding allocates many small, short-lived strings per
//! record and packet, and glibc's malloc/free were a quarter of the event path's CPU in perf.
//!
//! mimalloc gives pages it has seen freed back to the system after 10 ms (its
//! `purge_delay`). Reading logs frees and allocates in waves (a chunk's records, a window of
//! activities), so pages given back are soon wanted again, each time faulted in and zeroed by
//! the kernel (2 MiB at a time where transparent huge pages are on): `perf` put that at a
//! tenth of `orthrus analyze`'s CPU over a gigabyte of EVTX. A batch run, which ends when its
//! input does and whose peak memory is bounded by design, keeps what it freed instead; the
//! long-running server and sensor keep mimalloc's default and give memory back.
//!
//! This is the workspace's one crate allowed `unsafe`, for the one call into mimalloc's C
//! API below (the `mimalloc` crate has no safe setter for options).

pub use mimalloc::MiMalloc;

/// `mi_option_purge_delay`'s place in mimalloc's `mi_option_e` (the 16th member in both the
/// v2 and v3 headers `libmimalloc-sys` builds; the crate names no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells the allocator to keep pages it has seen freed for reuse rather than give them back
/// to the system (call once, early, in commands that run over their input and exit).
pub fn keep_freed_memory() {
    // -1: never purge (mimalloc's `mi_option_purge_delay`, "use 0 for immediate purging or -1
    // for no purging at all").
    #[allow(unsafe_code)]
    // SAFETY: `mi_option_set` only stores the option's value (an atomic store in mimalloc's
    // option table), valid at any time from any thread; it touches no memory of ours.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn freed_memory_is_kept_once_asked() {
        #[allow(unsafe_code)]
        // SAFETY: reads an option's value; no memory of ours is touched.
        let before = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        assert!(before >= 0, "mimalloc's default purges after a delay: {before}");
        super::keep_freed_memory();
        #[allow(unsafe_code)]
        // SAFETY: as above.
        let after = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        assert_eq!(after, -1);
    }
}
