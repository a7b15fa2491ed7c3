//! The CPU-bound part of a search (resolving `q`, filtering, counting, ordering) runs on threads
//! of its own, one per core, at a lower scheduling priority than the rest of the service (nice
//! 10). When searches keep every core busy, a write's request is still scheduled as soon as it is
//! ready, instead of taking its turn behind them (docs/performance.md, "Writes under searches").

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use crate::error::ApiError;

type Job = Box<dyn FnOnce() + Send>;

/// How far below the service's own priority search threads run (a `nice` increment).
const NICER: libc::c_int = 10;

/// The search threads. Dropping them waits for the threads to finish their searches and exit,
/// so none outlives the service (a thread still running while the process exits can crash it).
#[derive(Debug)]
pub(crate) struct SearchThreads {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl SearchThreads {
    /// `threads` threads, waiting for searches.
    pub(crate) fn new(threads: usize) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let threads = (0..threads.max(1))
            .map(|i| {
                let queue = Arc::clone(&queue);
                std::thread::Builder::new()
                    .name(format!("search-{i}"))
                    .spawn(move || {
                        // On Linux a thread has a priority of its own: this one only. Raising one's
                        // own nice value needs no privilege; if it fails, searches run as before.
                        // SAFETY: setpriority has no memory-safety preconditions.
                        unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, NICER) };
                        loop {
                            let job = match queue.lock() {
                                Ok(queue) => queue.recv(),
                                Err(_) => return,
                            };
                            match job {
                                // A panicking search fails its own request (its answer is dropped),
                                // not the thread.
                                Ok(job) => drop(std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))),
                                Err(_) => return,
                            }
                        }
                    })
                    .expect("the operating system starts a search thread")
            })
            .collect();
        Self {
            jobs: Mutex::new(Some(jobs)),
            threads,
        }
    }

    /// Runs `work` on a search thread and waits for its answer.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // The request may have gone (its client hung up): then nobody waits for the answer.
            let _ = answer.send(work());
        });
        self.jobs
            .lock()
            .map_err(|_| ApiError::internal("the search threads' queue is poisoned"))?
            .as_ref()
            .ok_or_else(|| ApiError::internal("the search threads have stopped"))?
            .send(job)
            .map_err(|_| ApiError::internal("the search threads have stopped"))?;
        answered
            .await
            .map_err(|_| ApiError::internal("a search failed on its thread"))
    }
}

impl Drop for SearchThreads {
    fn drop(&mut self) {
        // Closing the queue ends each thread once it has finished its search.
        drop(self.jobs.lock().map(|mut jobs| jobs.take()));
        let me = std::thread::current().id();
        for thread in self.threads.drain(..) {
            // The last handle may go with a search's own state, on a search thread: that one
            // ends by itself when its job returns.
            if thread.thread().id() != me {
                let _ = thread.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_a_search_thread_at_a_lower_priority_and_a_panic_fails_only_its_search() {
        let threads = SearchThreads::new(2);
        let (name, nice) = threads
            .run(|| {
                // SAFETY: getpriority has no memory-safety preconditions.
                let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
                (std::thread::current().name().map(str::to_owned), nice)
            })
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("search-"));
        // SAFETY: as above.
        let ours = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        assert_eq!(nice, (ours + NICER).min(19));
        assert!(threads.run(|| panic!("a bad search")).await.is_err());
        assert_eq!(threads.run(|| 2 + 2).await.unwrap(), 4, "the threads survive a panic");
        let names: Vec<String> = threads
            .threads
            .iter()
            .filter_map(|t| t.thread().name().map(str::to_owned))
            .collect();
        assert_eq!(names, ["search-0", "search-1"]);
        // Returns once both threads have exited (a thread that did not would hang the test).
        drop(threads);
    }
}
