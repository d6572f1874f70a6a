//! Timers: a binary heap of deadlines, cancellable by key.
//!
//! Cancelled entries stay in the heap until they reach the top and are
//! skipped there (a slot's generation tells a live entry from a stale one),
//! so cancel is O(1) and the heap never needs a scan.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::task::Waker;
use std::time::Instant;

use slab::Slab;

/// Identifies a pending timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerKey {
    slot: usize,
    generation: u64,
}

struct Entry {
    generation: u64,
    waker: Waker,
}

#[derive(Default)]
struct Inner {
    heap: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    slots: Slab<Entry>,
    next_generation: u64,
}

#[derive(Default)]
pub(crate) struct Timers {
    inner: RefCell<Inner>,
}

impl Timers {
    /// Wakes `waker` once `deadline` has passed.
    pub(crate) fn add(&self, deadline: Instant, waker: Waker) -> TimerKey {
        let mut inner = self.inner.borrow_mut();
        inner.next_generation += 1;
        let generation = inner.next_generation;
        let slot = inner.slots.insert(Entry { generation, waker });
        inner.heap.push(Reverse((deadline, slot, generation)));
        TimerKey { slot, generation }
    }

    /// Replaces the waker of a pending timer (a future moved between tasks).
    pub(crate) fn update(&self, key: TimerKey, waker: &Waker) {
        let mut inner = self.inner.borrow_mut();
        if let Some(e) = inner.slots.get_mut(key.slot) {
            if e.generation == key.generation && !e.waker.will_wake(waker) {
                e.waker = waker.clone();
            }
        }
    }

    pub(crate) fn cancel(&self, key: TimerKey) {
        let mut inner = self.inner.borrow_mut();
        if inner
            .slots
            .get(key.slot)
            .is_some_and(|e| e.generation == key.generation)
        {
            inner.slots.remove(key.slot);
        }
    }

    /// The earliest live deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let mut inner = self.inner.borrow_mut();
        loop {
            let &Reverse((at, slot, generation)) = inner.heap.peek()?;
            if inner
                .slots
                .get(slot)
                .is_some_and(|e| e.generation == generation)
            {
                return Some(at);
            }
            inner.heap.pop();
        }
    }

    /// Wakes every timer due at `now`.
    pub(crate) fn fire(&self, now: Instant) {
        let mut due = Vec::new();
        {
            let mut inner = self.inner.borrow_mut();
            while let Some(&Reverse((at, slot, generation))) = inner.heap.peek() {
                if at > now {
                    break;
                }
                inner.heap.pop();
                if inner
                    .slots
                    .get(slot)
                    .is_some_and(|e| e.generation == generation)
                {
                    due.push(inner.slots.remove(slot).waker);
                }
            }
        }
        for w in due {
            w.wake();
        }
    }

    pub(crate) fn clear(&self) {
        let mut inner = self.inner.borrow_mut();
        inner.heap.clear();
        inner.slots.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;
    use std::time::Duration;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn fires_in_order_and_skips_cancelled() {
        let t = Timers::default();
        let c = Arc::new(Count(AtomicUsize::new(0)));
        let now = Instant::now();
        let a = t.add(now + Duration::from_secs(2), Waker::from(c.clone()));
        t.add(now + Duration::from_secs(1), Waker::from(c.clone()));
        assert_eq!(t.next_deadline(), Some(now + Duration::from_secs(1)));
        t.fire(now + Duration::from_millis(1500));
        assert_eq!(c.0.load(Ordering::SeqCst), 1);
        t.cancel(a);
        assert_eq!(t.next_deadline(), None);
        t.fire(now + Duration::from_secs(3));
        assert_eq!(c.0.load(Ordering::SeqCst), 1);
    }
}
