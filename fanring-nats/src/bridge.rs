//! The one place where synchronous engine threads meet the async client: a current-thread
//! tokio runtime on a helper thread of its own. Sync code hands it futures ([`Bridge::spawn`],
//! [`Bridge::block_on`]) and exchanges items with its tasks through tokio's bounded channels
//! (`blocking_recv`/`blocking_send` on the sync side). An async bridge shared with the rest of
//! the crate can replace this module without touching the source or the sink.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::thread::JoinHandle;

use futures_util::FutureExt;
use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// A current-thread runtime driven by its own thread until the bridge is dropped.
pub(crate) struct Bridge {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Bridge {
    /// Starts the runtime's thread.
    pub(crate) fn start() -> std::io::Result<Bridge> {
        let rt = Builder::new_current_thread().enable_all().build()?;
        let handle = rt.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("fanring-nats".into())
            .spawn(move || {
                // Runs every spawned task until the bridge is dropped; dropping the runtime
                // then cancels the tasks still pending.
                rt.block_on(async {
                    let _ = stopped.await;
                });
            })?;
        Ok(Bridge {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Runs `fut` on the runtime's thread.
    pub(crate) fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(fut)
    }

    /// Runs `fut` on the runtime's thread and waits for its result on the caller's thread.
    /// Never call it from a task of this runtime.
    pub(crate) fn block_on<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(AssertUnwindSafe(fut).catch_unwind().await);
        });
        // The runtime runs until the bridge is dropped, and `&self` keeps it alive.
        match rx
            .recv()
            .expect("the NATS runtime thread ended while a call was pending")
        {
            Ok(out) => out,
            // A panic in `fut` goes on on the caller's thread.
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge").finish_non_exhaustive()
    }
}
