use std::fmt;

/// Why a ring could not be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapacityError {
    /// A capacity of 0 was asked for: a ring needs at least one slot.
    Zero,
    /// The capacity, rounded up to a power of two, exceeds [`crate::MAX_CAPACITY`](crate::ring::MAX_CAPACITY), or its
    /// buffer would exceed `isize::MAX` bytes or could not be allocated.
    TooLarge {
        /// The capacity that was asked for.
        requested: usize,
    },
}

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CapacityError::Zero => f.write_str("ring capacity must be at least 1"),
            CapacityError::TooLarge { requested } => {
                write!(f, "ring capacity {requested} is too large to allocate")
            }
        }
    }
}

impl std::error::Error for CapacityError {}

/// Why a push did not happen. The value comes back in both cases.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PushError<T> {
    /// Every slot is taken (for a timed push: still full at the deadline).
    Full(T),
    /// The consumer closed or was dropped, or this producer closed: nobody will read it.
    Closed(T),
}

impl<T> PushError<T> {
    /// The value that was not pushed.
    ///
    /// ```
    /// let (mut tx, rx) = fanring::channel::<u8>(1).unwrap();
    /// drop(rx);
    /// assert_eq!(tx.try_push(5).unwrap_err().into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            PushError::Full(v) | PushError::Closed(v) => v,
        }
    }

    /// Whether the error is [`PushError::Closed`].
    pub fn is_closed(&self) -> bool {
        matches!(self, PushError::Closed(_))
    }
}

impl<T> fmt::Debug for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Full(_) => f.write_str("Full(..)"),
            PushError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Full(_) => f.write_str("ring is full"),
            PushError::Closed(_) => f.write_str("ring is closed"),
        }
    }
}

impl<T> std::error::Error for PushError<T> {}

/// Why a pop returned no item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PopError {
    /// Nothing to read now (for a timed pop: still nothing at the deadline).
    Empty,
    /// The producer closed (or was dropped) **and** every item it pushed has been taken; or
    /// this consumer closed itself and then found the ring empty (a push racing that close
    /// is dropped with the ring). Final: every later pop says `Closed` too.
    Closed,
}

impl fmt::Display for PopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PopError::Empty => f.write_str("ring is empty"),
            PopError::Closed => f.write_str("ring is closed and drained"),
        }
    }
}

impl std::error::Error for PopError {}

/// The other side of the ring is gone (closed or dropped), so a batch write cannot proceed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ring is closed")
    }
}

impl std::error::Error for Closed {}
