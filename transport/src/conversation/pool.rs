//! Worker threads for conversations: an implementation that calls back into its caller blocks
//! until the caller answers, so it cannot run on a server thread. Threads are kept for a while
//! after their job so a steady stream of conversations does not pay a thread spawn each.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

type Job = Box<dyn FnOnce() + Send>;

/// How long an idle worker waits for another job before it exits.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

struct Pool {
    jobs: Sender<Job>,
    queue: Receiver<Job>,
    /// Workers waiting for a job and not yet claimed by a `spawn`.
    idle: AtomicUsize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let (jobs, queue) = crossbeam_channel::unbounded();
        Pool { jobs, queue, idle: AtomicUsize::new(0) }
    })
}

/// Runs `job` on a worker thread of its own: an idle worker if one is free, a new one otherwise.
/// Every job gets a worker at once: a job never waits behind another (conversations block).
pub(super) fn spawn(job: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    let pool = pool();
    // Claim an idle worker, or start one. A claimed worker does not exit before taking a job.
    let claimed = pool.idle.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok();
    if !claimed {
        std::thread::Builder::new().name("hatch-conversation".into()).spawn(move || work(pool))?;
    }
    pool.jobs.send(Box::new(job)).expect("the pool's queue lives as long as the process");
    Ok(())
}

fn work(pool: &'static Pool) {
    loop {
        // Every idle worker waits on the queue itself (no lock), so each leaves on its own timer.
        match pool.queue.recv_timeout(KEEP_ALIVE) {
            Ok(job) => {
                job();
                pool.idle.fetch_add(1, Ordering::AcqRel);
            }
            // Leave only if no `spawn` has claimed this worker meanwhile; otherwise a job is coming.
            Err(RecvTimeoutError::Timeout) => {
                if pool.idle.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok() {
                    return;
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier, mpsc};

    #[test]
    fn every_job_runs_at_once_even_when_all_block() {
        // 16 jobs that only finish when all 16 run at the same time: a pool that queued a job
        // behind another would deadlock here.
        let barrier = Arc::new(Barrier::new(17));
        for _ in 0..16 {
            let barrier = barrier.clone();
            spawn(move || {
                barrier.wait();
            })
            .unwrap();
        }
        barrier.wait();
        // Reused: the next round starts no more threads than are idle by then.
        let (done_tx, done_rx) = mpsc::channel();
        for i in 0..16 {
            let done = done_tx.clone();
            spawn(move || done.send(i).unwrap()).unwrap();
        }
        let mut seen: Vec<i32> = (0..16).map(|_| done_rx.recv_timeout(Duration::from_secs(10)).unwrap()).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..16).collect::<Vec<_>>());
    }
}
