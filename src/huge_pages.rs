//! Transparent huge pages are turned off for Shoal's processes.
//!
//! mimalloc advises huge pages (`madvise(MADV_HUGEPAGE)`) on the arenas it
//! reserves, and where the kernel gives them (its setting `always`, or
//! `madvise` as on Debian) the first touch of any byte of a 2 MiB region
//! zeroes all 2 MiB. A fresh server touches its allocator's memory for the
//! first time on its first ingest: in a `perf` profile of the first 1M rows
//! of NDJSON into a fresh `shoal local`, the kernel zeroing huge pages
//! (`clear_page_erms` under `do_huge_pmd_anonymous_page`, most of it from
//! mimalloc laying out a fresh page's free list) was a third of the
//! process's samples, against under a tenth on later passes. With ordinary
//! pages only what is used is zeroed. Figures, for ingest and for the query
//! suite, are in the README ("Huge pages off").
//!
//! The setting (`PR_SET_THP_DISABLE`) covers the whole process, whatever
//! the kernel's own settings say, file mappings included: on a data
//! directory mounted with tmpfs's `huge=always` or `huge=within_size` the
//! leaves' block mappings use ordinary pages too (default tmpfs mounts,
//! `/dev/shm` among them, have no huge pages to lose). mimalloc's own
//! `MIMALLOC_ALLOW_THP=0` makes the same call; this makes it without it.
//! Every `shoal` subcommand calls [`turn_off`] first (`shoal local` is one
//! process, its leaves included), and the setting is inherited across
//! `exec`, as by the restart of a leaf.

/// Turns transparent huge pages off for this process and what it execs.
/// Where the kernel refuses (a sandbox that forbids `prctl`), the error is
/// returned and nothing changes: Shoal runs the same, with a slower first
/// ingest.
pub fn turn_off() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let (on, unused): (libc::c_ulong, libc::c_ulong) = (1, 0);
        // SAFETY: a plain system call without pointers, its variadic
        // arguments passed at the width the kernel reads (unsigned long);
        // the flag is the process's, not a thread's, so no other thread
        // can observe a half-made change.
        let result = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, on, unused, unused, unused) };
        if result != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
