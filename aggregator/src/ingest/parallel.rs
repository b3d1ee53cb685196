//! CPU work of one request spread over the machine's cores: parts handed
//! to scoped threads (the first part on the calling thread, which is a
//! blocking-pool thread, never an async worker), results in part order.
//!
//! Only idle cores get parts: while other requests' parts run, a request is
//! cut into fewer parts (down to one, no threads at all). Several requests
//! at once already keep the cores busy, and each cut costs a merge of the
//! parts afterwards, so on a loaded machine cutting is pure overhead.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Parts of all requests running now.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// The cores to work on.
pub fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Cores that no request's part runs on now (at least one). A hint: two
/// requests that look at once may both take the same idle core.
fn idle_cores() -> usize {
    cores()
        .saturating_sub(RUNNING.load(Ordering::Relaxed))
        .max(1)
}

/// How many parts `amount` of work makes, at least `per_part` each, at
/// most one per idle core.
pub fn parts_for(amount: usize, per_part: usize) -> usize {
    (amount / per_part.max(1)).clamp(1, idle_cores())
}

/// Counts parts as running for as long as it lives.
struct Running(usize);

impl Running {
    fn start(parts: usize) -> Self {
        RUNNING.fetch_add(parts, Ordering::Relaxed);
        Self(parts)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.fetch_sub(self.0, Ordering::Relaxed);
    }
}

/// `items` cut into [`parts_for`] contiguous slices, in order.
pub fn slices<T>(items: &[T], per_part: usize) -> Vec<&[T]> {
    match parts_for(items.len(), per_part) {
        1 => vec![items],
        n => items.chunks(items.len().div_ceil(n)).collect(),
    }
}

/// Runs `work` on each of `parts` at once; a part whose thread cannot be
/// started runs on the calling thread.
pub fn run_parts<T, R>(parts: Vec<T>, work: impl Fn(T) -> R + Sync) -> Result<Vec<R>, String>
where
    T: Send,
    R: Send,
{
    let work = &work;
    let _running = Running::start(parts.len());
    std::thread::scope(|scope| {
        let mut parts = parts.into_iter();
        let first = parts.next();
        let mut spawned = Vec::new();
        for part in parts {
            // `spawn_scoped` consumes the closure even when it fails, so a
            // part is moved in through a slot it can be taken back from.
            let slot = std::sync::Mutex::new(Some(part));
            let slot = std::sync::Arc::new(slot);
            let theirs = slot.clone();
            let started = std::thread::Builder::new()
                .name("shoal-ingest".to_string())
                .spawn_scoped(scope, move || {
                    let part = theirs.lock().ok().and_then(|mut p| p.take());
                    part.map(work)
                });
            spawned.push((started, slot));
        }
        let mut done = Vec::new();
        done.extend(first.map(work));
        for (started, slot) in spawned {
            let result = match started {
                Ok(handle) => handle
                    .join()
                    .map_err(|_| "an ingest thread panicked".to_string())?,
                Err(_) => None,
            };
            let result = match result {
                Some(result) => result,
                None => {
                    let part = slot.lock().ok().and_then(|mut p| p.take());
                    work(part.ok_or_else(|| "an ingest part was lost".to_string())?)
                }
            };
            done.push(result);
        }
        Ok(done)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_part_order() {
        let parts: Vec<Vec<u32>> = (0..5).map(|i| vec![i; 1000]).collect();
        let sums = run_parts(parts, |part| part.iter().sum::<u32>()).unwrap();
        assert_eq!(sums, vec![0, 1000, 2000, 3000, 4000]);
        assert_eq!(parts_for(10, 100), 1);
        assert!(parts_for(usize::MAX, 1) <= cores());
        let items: Vec<u32> = (0..10).collect();
        let cut = slices(&items, 1);
        assert_eq!(cut.concat(), items);
        assert_eq!(slices::<u32>(&[], 1), vec![&[] as &[u32]]);
    }

    #[test]
    fn parts_running_leave_fewer_cores_to_cut_for() {
        // Other requests' parts take every core: one part, no threads.
        let observed = run_parts(vec![(); cores()], |()| parts_for(usize::MAX, 1)).unwrap();
        assert_eq!(observed, vec![1; cores()]);
    }
}
