//! A bound on the requests of one Lua state that use the network at once.
//!
//! Every request in flight holds a UDP socket (two with servers of both
//! families), and a burst of thousands of datagrams overflows the server's
//! receive buffer (Linux's default, 208 KiB, holds a few hundred small
//! datagrams), so that some are lost and wait out a whole timeout: with
//! 512 requests at once against a local dnsmasq, some runs lost queries;
//! with 100, none did, and a loopback server is kept just as busy.
//! Requests beyond [`MAX_IN_FLIGHT`] wait their turn, first come first
//! served; a permit passes straight from the request that ends to the one
//! that waited longest. Requests answered without the network (literals,
//! the hosts file, the cache) never wait.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

/// Requests that may use the network at once, per Lua state.
pub(crate) const MAX_IN_FLIGHT: usize = 100;

#[derive(Default)]
struct Ticket {
    granted: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

struct Inner {
    free: Cell<usize>,
    queue: RefCell<VecDeque<Rc<Ticket>>>,
}

/// The gate; cloning shares it.
#[derive(Clone)]
pub(crate) struct Gate(Rc<Inner>);

impl Default for Gate {
    fn default() -> Self {
        Gate::new(MAX_IN_FLIGHT)
    }
}

/// The right to use the network; given back when dropped.
pub(crate) struct Permit(Gate);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// Takes a ticket out of the queue, or passes on a permit it was granted,
/// when the waiting future is dropped.
struct Waiting {
    gate: Gate,
    ticket: Rc<Ticket>,
    done: bool,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if self.ticket.granted.get() {
            self.gate.release();
        } else {
            self.gate
                .0
                .queue
                .borrow_mut()
                .retain(|t| !Rc::ptr_eq(t, &self.ticket));
        }
    }
}

impl Gate {
    pub(crate) fn new(size: usize) -> Gate {
        Gate(Rc::new(Inner {
            free: Cell::new(size),
            queue: RefCell::new(VecDeque::new()),
        }))
    }

    /// A permit now, if one is free and nobody is waiting.
    pub(crate) fn try_acquire(&self) -> Option<Permit> {
        let free = self.0.free.get();
        if free > 0 && self.0.queue.borrow().is_empty() {
            self.0.free.set(free - 1);
            Some(Permit(self.clone()))
        } else {
            None
        }
    }

    /// Waits for a permit.
    pub(crate) async fn acquire(&self) -> Permit {
        if let Some(p) = self.try_acquire() {
            return p;
        }
        let ticket = Rc::new(Ticket::default());
        self.0.queue.borrow_mut().push_back(ticket.clone());
        let mut waiting = Waiting {
            gate: self.clone(),
            ticket,
            done: false,
        };
        poll_fn(|cx| {
            if waiting.ticket.granted.get() {
                return Poll::Ready(());
            }
            let mut w = waiting.ticket.waker.borrow_mut();
            match &*w {
                Some(old) if old.will_wake(cx.waker()) => {}
                _ => *w = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
        .await;
        waiting.done = true;
        Permit(self.clone())
    }

    fn release(&self) {
        let next = self.0.queue.borrow_mut().pop_front();
        match next {
            Some(ticket) => {
                ticket.granted.set(true);
                if let Some(w) = ticket.waker.borrow_mut().take() {
                    w.wake();
                }
            }
            None => self.0.free.set(self.0.free.get() + 1),
        }
    }

    /// Permits free right now (for tests).
    #[cfg(test)]
    fn free(&self) -> usize {
        self.0.free.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::Context;

    fn poll_once<F: Future>(f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        f.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn hands_permits_on_in_order() {
        let gate = Gate::new(1);
        let first = gate.try_acquire().expect("one is free");
        assert!(gate.try_acquire().is_none());
        let mut a = pin!(gate.acquire());
        let mut b = pin!(gate.acquire());
        assert!(poll_once(a.as_mut()).is_pending());
        assert!(poll_once(b.as_mut()).is_pending());
        drop(first);
        assert_eq!(gate.free(), 0);
        assert!(poll_once(b.as_mut()).is_pending());
        let Poll::Ready(pa) = poll_once(a.as_mut()) else {
            panic!("a waited longest")
        };
        drop(pa);
        let Poll::Ready(pb) = poll_once(b.as_mut()) else {
            panic!("then b")
        };
        drop(pb);
        assert_eq!(gate.free(), 1);
    }

    #[test]
    fn a_dropped_waiter_passes_its_permit_on() {
        let gate = Gate::new(1);
        let first = gate.try_acquire().expect("one is free");
        {
            let mut a = Box::pin(gate.acquire());
            assert!(poll_once(a.as_mut()).is_pending());
            drop(first);
            // Granted but never polled again: dropping it gives it back.
        }
        assert_eq!(gate.free(), 1);
        let held = gate.try_acquire().expect("free again");
        {
            let mut b = Box::pin(gate.acquire());
            assert!(poll_once(b.as_mut()).is_pending());
        }
        // b left the queue, so the permit comes back to the pool.
        drop(held);
        assert_eq!(gate.free(), 1);
    }
}
