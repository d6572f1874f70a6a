//! Waiting for other tasks: a FIFO list of waiters, and the condition
//! variable of `loop.cond()` built on it (the queue in [`super::queue`]
//! uses the same list).
//!
//! A waiter is woken by handing it its outcome, so the first in line gets
//! what a signal or a put offers even if another task asks before the
//! woken one runs (FIFO fairness).

use std::cell::{OnceCell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::{Rc, Weak};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use slab::Slab;

use mlua::Value;

use super::deadline::Deadline;
use super::executor::TaskShared;
use super::queue::Item;
use super::timer::TimerKey;
use super::Runtime;

/// One waiting task (or the blocking caller).
pub(crate) struct Waiter<T> {
    waker: RefCell<Option<Waker>>,
    outcome: RefCell<Option<T>>,
    /// What a putter offers (a queue item, see [`super::queue::Item`]),
    /// until a getter takes it.
    pub(crate) payload: RefCell<Option<Item>>,
    /// The task of a waiter parked without a future ([`park`]). Such a
    /// waiter leaves the line when its task asks again; a task that ended
    /// without asking (Lua 5.1: its yield failed inside a metamethod,
    /// which no check can foresee, and the error ended the task) has left
    /// a dead waiter, which the line skips instead of handing it a value
    /// or a signal nobody would take.
    task: OnceCell<Weak<TaskShared>>,
}

impl<T> Waiter<T> {
    /// Who to wake (a task parked without a future).
    pub(crate) fn set_waker(&self, waker: &Waker) {
        *self.waker.borrow_mut() = Some(waker.clone());
    }

    /// Whether the task of `waker` is the one waiting here.
    pub(crate) fn is_for(&self, waker: &Waker) -> bool {
        self.waker
            .borrow()
            .as_ref()
            .is_some_and(|w| w.will_wake(waker))
    }

    /// Whether the waiter's task ended while it stood in line.
    fn is_dead(&self) -> bool {
        self.task
            .get()
            .is_some_and(|t| t.upgrade().map_or(true, |t| t.is_done()))
    }

    /// The outcome, once one was handed over.
    pub(crate) fn take_outcome(&self) -> Option<T> {
        self.outcome.borrow_mut().take()
    }

    /// Hands the waiter its outcome and wakes it.
    pub(crate) fn finish(&self, outcome: T) {
        *self.outcome.borrow_mut() = Some(outcome);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

/// Waiters in arrival order.
pub(crate) struct WaitList<T> {
    list: RefCell<VecDeque<Rc<Waiter<T>>>>,
}

impl<T> Default for WaitList<T> {
    fn default() -> Self {
        Self {
            list: RefCell::new(VecDeque::new()),
        }
    }
}

impl<T> WaitList<T> {
    /// Joins the end of the line.
    pub(crate) fn push(&self, payload: Option<Item>) -> Rc<Waiter<T>> {
        let w = Rc::new(Waiter {
            waker: RefCell::new(None),
            outcome: RefCell::new(None),
            payload: RefCell::new(payload),
            task: OnceCell::new(),
        });
        self.list.borrow_mut().push_back(w.clone());
        w
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.prune();
        self.list.borrow().is_empty()
    }

    /// Takes the first waiter out of the line (its caller finishes it).
    pub(crate) fn pop(&self) -> Option<Rc<Waiter<T>>> {
        self.prune();
        self.list.borrow_mut().pop_front()
    }

    /// Drops dead waiters (see [`Waiter::task`]) from the front of the line.
    fn prune(&self) {
        let mut list = self.list.borrow_mut();
        while list.front().is_some_and(|w| w.is_dead()) {
            list.pop_front();
        }
    }

    /// Wakes the first waiter with `outcome`; false when nobody waits.
    pub(crate) fn wake_first(&self, outcome: T) -> bool {
        match self.pop() {
            Some(w) => {
                w.finish(outcome);
                true
            }
            None => false,
        }
    }

    /// Wakes every waiter; returns how many there were.
    pub(crate) fn wake_all(&self, outcome: impl Fn() -> T) -> usize {
        let all = std::mem::take(&mut *self.list.borrow_mut());
        let mut n = 0;
        for w in all.into_iter().filter(|w| !w.is_dead()) {
            w.finish(outcome());
            n += 1;
        }
        n
    }

    pub(crate) fn remove(&self, w: &Rc<Waiter<T>>) {
        self.list.borrow_mut().retain(|x| !Rc::ptr_eq(x, w));
    }
}

/// Finishes a waiter: hands over its outcome once one is given, `None`
/// when `timeout` passes first. A waiter given up (timed out, or its task
/// cancelled) leaves the line; one given up after its outcome was handed
/// over but before it ran (a blocking wait whose loop run ended with another
/// task's error) passes the outcome to `give_back`, so what it was handed
/// (a queue item, a signal) is not lost.
pub(crate) async fn wait<T>(
    rt: &Rc<Runtime>,
    list: &WaitList<T>,
    waiter: Rc<Waiter<T>>,
    timeout: Option<Duration>,
    give_back: impl FnOnce(T),
) -> Option<T> {
    struct Leave<'a, T, F: FnOnce(T)> {
        list: &'a WaitList<T>,
        waiter: &'a Rc<Waiter<T>>,
        give_back: Option<F>,
        /// The outcome was taken: the waiter left the line when it was
        /// handed over, so there is nothing to remove (and no line to scan).
        taken: bool,
    }
    impl<T, F: FnOnce(T)> Drop for Leave<'_, T, F> {
        fn drop(&mut self) {
            let handed = self.waiter.outcome.borrow_mut().take();
            match handed {
                None if self.taken => {}
                None => self.list.remove(self.waiter),
                Some(v) => {
                    if let Some(f) = self.give_back.take() {
                        f(v);
                    }
                }
            }
        }
    }
    let mut leave = Leave {
        list,
        waiter: &waiter,
        give_back: Some(give_back),
        taken: false,
    };
    let mut deadline = Deadline::after(rt, timeout);
    let outcome = poll_fn(|cx| {
        if let Some(v) = waiter.outcome.borrow_mut().take() {
            return Poll::Ready(Some(v));
        }
        let mut slot = waiter.waker.borrow_mut();
        if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *slot = Some(cx.waker().clone());
        }
        drop(slot);
        if deadline.poll_expired(cx) {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await;
    leave.taken = outcome.is_some();
    outcome
}

/// How a wait (a put, a get, a cond wait) ended.
pub(crate) enum Outcome<T> {
    Done(T),
    Closed,
    Timeout,
}

/// A task parked in line by a plain method: it yields from Lua and asks
/// again ([`retry`]) each time it is woken, so no future is
/// built (the fast path of `queue:get`, `queue:put` and `cond:wait` in a task).
pub(crate) struct Parked<T> {
    waiter: Rc<Waiter<T>>,
    deadline: Option<Instant>,
    timer: Option<TimerKey>,
}

/// What a parked task finds when it asks again.
pub(crate) enum Retry<T> {
    Wait,
    Done(Outcome<T>),
    Cancelled(Value),
}

pub(crate) fn park<T>(
    rt: &Runtime,
    list: &WaitList<T>,
    slab: &RefCell<Slab<Parked<T>>>,
    payload: Option<Item>,
    waker: &Waker,
    timeout: Option<Duration>,
) -> usize {
    let waiter = list.push(payload);
    waiter.set_waker(waker);
    if let Some(task) = rt.exec.current_task() {
        let _ = waiter.task.set(Rc::downgrade(&task));
    }
    let deadline = timeout.map(|t| super::deadline::later(Instant::now(), t));
    let timer = deadline.map(|at| rt.timers.add(at, waker.clone()));
    slab.borrow_mut().insert(Parked {
        waiter,
        deadline,
        timer,
    })
}

pub(crate) fn retry<T>(
    rt: &Runtime,
    list: &WaitList<T>,
    slab: &RefCell<Slab<Parked<T>>>,
    token: usize,
    done: impl FnOnce(T) -> Outcome<T>,
) -> Retry<T> {
    let mut parked = slab.borrow_mut();
    let Some(p) = parked.get(token) else {
        return Retry::Done(Outcome::Closed);
    };
    let end = if let Some(o) = p.waiter.take_outcome() {
        Retry::Done(done(o))
    } else if let Some(v) = rt.exec.current_cancel() {
        Retry::Cancelled(v)
    } else if !rt.exec.current_waker().is_some_and(|w| p.waiter.is_for(&w)) {
        // Not the parked task, run by the loop: its coroutine was resumed
        // by hand (runtime/by_hand.rs). The wait ends; the caller raises.
        Retry::Cancelled(Value::Nil)
    } else if p.deadline.is_some_and(|d| Instant::now() >= d) {
        Retry::Done(Outcome::Timeout)
    } else {
        return Retry::Wait;
    };
    let p = parked.remove(token);
    if !matches!(
        end,
        Retry::Done(Outcome::Done(_)) | Retry::Done(Outcome::Closed)
    ) {
        list.remove(&p.waiter);
    }
    if let Some(k) = p.timer {
        rt.timers.cancel(k);
    }
    end
}

/// `loop.cond()`: tasks wait until another signals.
#[derive(Default)]
pub(crate) struct Cond {
    waiters: WaitList<()>,
    /// Tasks parked without a future (see [`Cond::park`]), by token.
    parked: RefCell<Slab<Parked<()>>>,
}

impl Cond {
    /// Waits for a signal; false when `timeout` passed first.
    pub(crate) async fn wait(&self, rt: &Rc<Runtime>, timeout: Option<Duration>) -> bool {
        let w = self.waiters.push(None);
        // A signal handed to a wait that was given up goes to the next.
        wait(rt, &self.waiters, w, timeout, |()| {
            self.signal();
        })
        .await
        .is_some()
    }

    /// Parks the running task in line for a signal; the token is for
    /// [`Cond::retry`].
    pub(crate) fn park(&self, rt: &Runtime, waker: &Waker, timeout: Option<Duration>) -> usize {
        park(rt, &self.waiters, &self.parked, None, waker, timeout)
    }

    /// A parked task, woken, asks whether its wait is over.
    pub(crate) fn retry(&self, rt: &Runtime, token: usize) -> Retry<()> {
        retry(rt, &self.waiters, &self.parked, token, Outcome::Done)
    }

    /// Wakes the longest waiting task; false when nobody waits.
    pub(crate) fn signal(&self) -> bool {
        self.waiters.wake_first(())
    }

    /// Wakes every waiting task; returns how many.
    pub(crate) fn broadcast(&self) -> usize {
        self.waiters.wake_all(|| ())
    }
}
