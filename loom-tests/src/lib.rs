//! Models live in `tests/`; this crate holds only what several of them share: items whose
//! creations and drops are counted (`counted`, under `--cfg fanring_loom`).

/// Counted items for the exactly-once checks of the engine models.
#[cfg(fanring_loom)]
pub mod counted {
    use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use loom::sync::Arc;

    /// An item whose drop is counted.
    pub struct Counted(pub Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    /// How many items were made and dropped.
    #[derive(Clone, Default)]
    pub struct Counts {
        pub created: Arc<AtomicUsize>,
        pub dropped: Arc<AtomicUsize>,
    }

    impl Counts {
        pub fn new() -> Self {
            Counts::default()
        }

        /// `n` items, each with its index, counted when the source makes it.
        pub fn source(&self, n: u32) -> impl Iterator<Item = (u32, Counted)> + Send + 'static {
            let (c, d) = (Arc::clone(&self.created), Arc::clone(&self.dropped));
            (0..n).map(move |i| {
                c.fetch_add(1, SeqCst);
                (i, Counted(Arc::clone(&d)))
            })
        }

        /// `(created, dropped)`.
        pub fn get(&self) -> (usize, usize) {
            (self.created.load(SeqCst), self.dropped.load(SeqCst))
        }
    }
}
