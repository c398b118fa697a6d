//! The thread that owns the D-Bus connection and runs every call, with deadlines.

use std::sync::mpsc;
use std::time::Duration;

use super::errors::{Ctx, backend, bus_description};
use super::{Conn, connect};
use crate::store::{StoreError, StoreOptions};

pub(super) type Job = Box<dyn FnOnce(&Conn, &Ctx) + Send>;

/// The connection lives on its own thread, which runs every call.
///
/// zbus's blocking API (with its `tokio` feature) drives a private tokio runtime with
/// `block_on`, even when a proxy or connection is dropped; on a thread of the caller's runtime
/// that panics ("Cannot start a runtime from within a runtime"). On this thread nothing zbus
/// does can meet the caller's runtime, dropping the store is safe anywhere, and every call
/// gets a deadline (beyond the per-call D-Bus timeout: a prompt waits for a signal without one).
pub(super) struct Worker {
    jobs: mpsc::Sender<Job>,
    pub(super) bus: String,
    deadline: Duration,
    /// When the thread was started: [`Starting::wait`] counts its deadline from here.
    started: std::time::Instant,
}

/// A [`Worker`] whose thread is still connecting.
pub(super) struct Starting {
    worker: Worker,
    ready: mpsc::Receiver<Result<(), StoreError>>,
    timeout: Duration,
}

impl Starting {
    /// Waits until the thread has connected and checked the default collection, at most
    /// `timeout` + 1s after it was started.
    pub(super) fn wait(self) -> Result<Worker, StoreError> {
        let Starting {
            worker,
            ready,
            timeout,
        } = self;
        let deadline = worker.deadline;
        match ready.recv_timeout(deadline.saturating_sub(worker.started.elapsed())) {
            Ok(result) => result.map(|()| worker),
            // The thread may stay blocked on an unresponsive bus; it holds nothing of ours.
            Err(_) => Err(Ctx {
                bus: worker.bus.clone(),
                timeout,
            }
            .timed_out(deadline)),
        }
    }
}

impl Worker {
    /// Connects (with `timeout` per D-Bus call) and checks the default collection; `timeout`
    /// + 1s overall.
    pub(super) fn start(opts: &StoreOptions, timeout: Duration) -> Result<Self, StoreError> {
        Worker::spawn(opts, timeout)?.wait()
    }

    /// Starts the connection thread; [`Starting::wait`] waits for it to be ready.
    pub(super) fn spawn(opts: &StoreOptions, timeout: Duration) -> Result<Starting, StoreError> {
        let started = std::time::Instant::now();
        let ctx = Ctx {
            bus: bus_description(opts),
            timeout,
        };
        let bus = ctx.bus.clone();
        let deadline = timeout + Duration::from_secs(1);
        let address = opts.dbus_address.clone();
        let (jobs, queue) = mpsc::channel::<Job>();
        let (ready_tx, ready) = mpsc::channel();
        std::thread::Builder::new()
            .name("pushx-secret-service".into())
            .spawn(move || {
                let conn = match connect(address, &ctx) {
                    Ok(conn) => conn,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                // Ends when the store (the only sender) is dropped.
                for job in queue {
                    job(&conn, &ctx);
                }
            })
            .map_err(|e| backend(format!("cannot start the Secret Service thread: {e}")))?;
        Ok(Starting {
            worker: Worker {
                jobs,
                bus,
                deadline,
                started,
            },
            ready,
            timeout,
        })
    }

    /// Runs `f` on the connection thread and waits for its result.
    pub(super) fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Conn, &Ctx) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.jobs
            .send(Box::new(move |conn, ctx| {
                let _ = tx.send(f(conn, ctx));
            }))
            .map_err(|_| backend("the Secret Service connection thread has stopped"))?;
        // Each D-Bus call has its own timeout; this catches a call that waits for a prompt
        // (see the module docs on the one window where one could be opened).
        let waited = self.deadline * 4;
        rx.recv_timeout(waited).unwrap_or_else(|_| {
            Err(Ctx {
                bus: self.bus.clone(),
                timeout: self.deadline,
            }
            .timed_out(waited))
        })
    }
}
