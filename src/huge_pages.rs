//! Transparent huge pages are turned off for Shoal's processes.
//!
//! mimalloc asks the kernel for huge pages on the memory it reserves
//! (`madvise(MADV_HUGEPAGE)`), and where the kernel gives them (its
//! setting `always`, or `madvise` as on Debian) the first touch of any byte
//! of a 2 MiB region zeroes all 2 MiB. A fresh aggregator and its leaves
//! touch their allocators' memory for the first time on the first ingest:
//! in a `perf` profile of the first 1M rows of NDJSON into a fresh
//! `shoal local`, the kernel zeroing huge pages (`clear_page_erms` under
//! `do_huge_pmd_anonymous_page`, most of it from mimalloc laying out a
//! fresh page's free list) was a third of the servers' samples, against a
//! tenth on later passes. With ordinary pages only what is used is zeroed.
//! Scans read the blocks' mappings of tmpfs files, which this does not
//! change (tmpfs has its own `huge=` mount option); measured figures are in
//! the README ("Huge pages off").
//!
//! The setting is the process's (`PR_SET_THP_DISABLE`) and is inherited,
//! so the leaves `shoal local` starts have it too.

/// Turns transparent huge pages off for this process and the processes it
/// starts. Where the kernel refuses, the error is returned and nothing
/// changes: Shoal runs the same, with a slower first ingest.
pub fn turn_off() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no
        // memory of this process.
        let result = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
        if result != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
