//! Timers: a binary heap of deadlines, cancellable by key.
//!
//! Cancelled entries stay in the heap until they reach the top and are
//! skipped there (a slot's generation tells a live entry from a stale one),
//! so cancel is O(1). Waits that end before their timeout (the usual case:
//! a read with a timeout that gets its data) would otherwise pile up stale
//! entries for a whole timeout period, thousands on a busy loop, making
//! every push and pop walk a heap much larger than the live timers; once
//! the stale ones outnumber the live ones twice over, the heap is rebuilt
//! with the live ones only (amortised O(1) per cancel).

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

/// The fewest heap entries worth a rebuild (see the module comment).
const COMPACT_AT: usize = 256;

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
            let live = inner.slots.len();
            if inner.heap.len() > COMPACT_AT.max(3 * live) {
                let Inner { heap, slots, .. } = &mut *inner;
                heap.retain(|Reverse((_, slot, generation))| {
                    slots
                        .get(*slot)
                        .is_some_and(|e| e.generation == *generation)
                });
            }
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

    #[test]
    fn cancelled_timers_do_not_pile_up() {
        let t = Timers::default();
        let c = Arc::new(Count(AtomicUsize::new(0)));
        let now = Instant::now();
        let keep: Vec<_> = (0..10)
            .map(|i| t.add(now + Duration::from_secs(100 + i), Waker::from(c.clone())))
            .collect();
        for i in 0..100_000 {
            let k = t.add(
                now + Duration::from_secs(10 + i % 7),
                Waker::from(c.clone()),
            );
            t.cancel(k);
        }
        assert!(t.inner.borrow().heap.len() <= COMPACT_AT + 1);
        // The live ones are still there, in order.
        assert_eq!(t.next_deadline(), Some(now + Duration::from_secs(100)));
        t.cancel(keep[0]);
        assert_eq!(t.next_deadline(), Some(now + Duration::from_secs(101)));
        t.fire(now + Duration::from_secs(200));
        assert_eq!(c.0.load(Ordering::SeqCst), 9);
    }
}
