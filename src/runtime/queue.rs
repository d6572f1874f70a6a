//! `loop.queue([capacity])`: a bounded FIFO channel between tasks.
//!
//! A put with room (and nobody ahead of it) or a get with an item answers
//! at once. Otherwise the caller joins a FIFO line ([`super::sync`]):
//! getters wait for an item, putters wait with their value until a get
//! makes room. Items go straight to the first waiting getter, so the order
//! of arrival is the order of service. Capacity 0 makes a rendezvous: a put
//! finishes when a get takes its value.
//!
//! The queue moves [`Item`]s: numbers that name the values, which the Lua
//! side keeps in a table of its own (the handle's store, see
//! `fast/sync.rs`), so the raw fast path can hand values over without
//! mlua. Whoever holds an item owns its entry in the store: a getter takes
//! it out, a putter whose put failed clears it.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::Waker;
use std::time::Duration;

use slab::Slab;

use super::sync::{park, retry, wait, Parked, WaitList, Waiter};
pub(crate) use super::sync::{Outcome, Retry};
use super::Runtime;

/// Runs when a waiting put ends, however it ends: a value still offered
/// (no getter took it) leaves the line and goes to `unsent`.
struct Unsent<'a, F: FnOnce(Item)> {
    list: &'a WaitList<bool>,
    waiter: Rc<Waiter<bool>>,
    unsent: Option<F>,
    /// The put was answered (done or closed): the waiter left the line
    /// then, so there is no line to scan.
    answered: bool,
}

impl<F: FnOnce(Item)> Drop for Unsent<'_, F> {
    fn drop(&mut self) {
        // Out of the line first, so no getter can find it emptied.
        if !self.answered {
            self.list.remove(&self.waiter);
        }
        let offered = self.waiter.payload.borrow_mut().take();
        if let (Some(v), Some(f)) = (offered, self.unsent.take()) {
            f(v);
        }
    }
}

/// The number that stands for a value in the store.
pub(crate) type Item = i64;

pub(crate) struct Queue {
    items: RefCell<VecDeque<Item>>,
    capacity: usize,
    closed: Cell<bool>,
    /// The last item number given out.
    last: Cell<Item>,
    /// `Some(v)`: a value handed over; `None`: the queue closed.
    getters: WaitList<Option<Item>>,
    /// `true`: the value went in; `false`: the queue closed first.
    putters: WaitList<bool>,
    /// Tasks parked without a future (see [`Queue::park_get`]), by token.
    parked_gets: RefCell<Slab<Parked<Option<Item>>>>,
    parked_puts: RefCell<Slab<Parked<bool>>>,
}

impl Queue {
    /// `usize::MAX` for no limit.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            items: RefCell::new(VecDeque::new()),
            capacity,
            closed: Cell::new(false),
            last: Cell::new(0),
            getters: WaitList::default(),
            putters: WaitList::default(),
            parked_gets: RefCell::new(Slab::new()),
            parked_puts: RefCell::new(Slab::new()),
        }
    }

    /// A fresh item number for a value about to be put.
    pub(crate) fn next_item(&self) -> Item {
        self.last.set(self.last.get() + 1);
        self.last.get()
    }

    pub(crate) fn len(&self) -> usize {
        self.items.borrow().len()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// A put that needs no waiting: `Err(v)` hands the value back when the
    /// caller must wait.
    pub(crate) fn try_put(&self, v: Item) -> Result<Outcome<()>, Item> {
        if self.closed.get() {
            return Ok(Outcome::Closed);
        }
        if let Some(g) = self.getters.pop() {
            g.finish(Some(v));
            return Ok(Outcome::Done(()));
        }
        let mut items = self.items.borrow_mut();
        if items.len() < self.capacity && self.putters.is_empty() {
            items.push_back(v);
            return Ok(Outcome::Done(()));
        }
        Err(v)
    }

    /// Waits in line to put `v`. A put that ends without its value going
    /// in (closed, timed out, or given up: a blocking put whose loop run
    /// ended with another task's error) passes the item to `unsent`, so
    /// the caller can let go of the value it stands for.
    pub(crate) async fn put(
        &self,
        rt: &Rc<Runtime>,
        v: Item,
        timeout: Option<Duration>,
        unsent: impl FnOnce(Item),
    ) -> Outcome<()> {
        let v = match self.try_put(v) {
            Ok(done) => return done,
            Err(v) => v,
        };
        let w = self.putters.push(Some(v));
        let mut guard = Unsent {
            list: &self.putters,
            waiter: w.clone(),
            unsent: Some(unsent),
            answered: false,
        };
        // A put already done stays done: its value is in the queue.
        let answer = wait(rt, &self.putters, w, timeout, |_| ()).await;
        guard.answered = answer.is_some();
        match answer {
            Some(true) => Outcome::Done(()),
            Some(false) => Outcome::Closed,
            None => Outcome::Timeout,
        }
    }

    /// A get that needs no waiting; `None` when the caller must wait.
    pub(crate) fn try_get(&self) -> Option<Outcome<Item>> {
        let front = self.items.borrow_mut().pop_front();
        if let Some(v) = front {
            // Room was made (unless an item given back had put the queue
            // over its capacity): the first waiting putter's value goes in.
            if self.items.borrow().len() < self.capacity {
                if let Some(p) = self.putters.pop() {
                    if let Some(pv) = p.payload.borrow_mut().take() {
                        self.items.borrow_mut().push_back(pv);
                    }
                    p.finish(true);
                }
            }
            return Some(Outcome::Done(v));
        }
        // Capacity 0: take the value straight from a waiting putter.
        if let Some(p) = self.putters.pop() {
            let pv = p.payload.borrow_mut().take().unwrap_or(0);
            p.finish(true);
            return Some(Outcome::Done(pv));
        }
        if self.closed.get() {
            return Some(Outcome::Closed);
        }
        None
    }

    /// Waits in line for an item.
    pub(crate) async fn get(&self, rt: &Rc<Runtime>, timeout: Option<Duration>) -> Outcome<Item> {
        if let Some(now) = self.try_get() {
            return now;
        }
        let w = self.getters.push(None);
        let give_back = |handed: Option<Item>| {
            if let Some(v) = handed {
                self.give_back(v);
            }
        };
        match wait(rt, &self.getters, w, timeout, give_back).await {
            Some(Some(v)) => Outcome::Done(v),
            Some(None) => Outcome::Closed,
            None => Outcome::Timeout,
        }
    }

    /// An item handed to a getter that gave up before taking it: to the
    /// next waiting getter, else back to the front of the queue (which
    /// may hold one more than its capacity until a get takes it).
    fn give_back(&self, v: Item) {
        match self.getters.pop() {
            Some(g) => g.finish(Some(v)),
            None => self.items.borrow_mut().push_front(v),
        }
    }

    /// Refuses further puts and wakes everyone waiting: getters get
    /// "closed" (items already queued are still delivered to later gets),
    /// putters get "closed" and their values are dropped.
    pub(crate) fn close(&self) {
        self.closed.set(true);
        self.getters.wake_all(|| None);
        self.putters.wake_all(|| false);
    }

    /// Parks the running task in line for an item; it asks again with the
    /// returned token after each wake-up.
    pub(crate) fn park_get(&self, rt: &Runtime, waker: &Waker, timeout: Option<Duration>) -> usize {
        park(rt, &self.getters, &self.parked_gets, None, waker, timeout)
    }

    pub(crate) fn retry_get(&self, rt: &Runtime, token: usize) -> Retry<Item> {
        match retry(rt, &self.getters, &self.parked_gets, token, |o| match o {
            Some(v) => Outcome::Done(Some(v)),
            None => Outcome::Closed,
        }) {
            Retry::Wait => Retry::Wait,
            Retry::Cancelled(v) => Retry::Cancelled(v),
            Retry::Done(Outcome::Done(Some(v))) => Retry::Done(Outcome::Done(v)),
            Retry::Done(Outcome::Done(None) | Outcome::Closed) => Retry::Done(Outcome::Closed),
            Retry::Done(Outcome::Timeout) => Retry::Done(Outcome::Timeout),
        }
    }

    /// Parks the running task in line to put `v`.
    pub(crate) fn park_put(
        &self,
        rt: &Runtime,
        v: Item,
        waker: &Waker,
        timeout: Option<Duration>,
    ) -> usize {
        park(
            rt,
            &self.putters,
            &self.parked_puts,
            Some(v),
            waker,
            timeout,
        )
    }

    pub(crate) fn retry_put(&self, rt: &Runtime, token: usize) -> Retry<()> {
        match retry(rt, &self.putters, &self.parked_puts, token, |ok| {
            if ok {
                Outcome::Done(true)
            } else {
                Outcome::Closed
            }
        }) {
            Retry::Wait => Retry::Wait,
            Retry::Cancelled(v) => Retry::Cancelled(v),
            Retry::Done(Outcome::Done(true)) => Retry::Done(Outcome::Done(())),
            Retry::Done(Outcome::Done(false) | Outcome::Closed) => Retry::Done(Outcome::Closed),
            Retry::Done(Outcome::Timeout) => Retry::Done(Outcome::Timeout),
        }
    }
}
