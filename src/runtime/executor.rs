//! The executor: tasks are futures kept in a slab, woken by `Arc` wakers
//! that push their slot onto a ready queue.
//!
//! Most tasks are Lua coroutines (`Thread::into_async`); a few are Rust
//! futures (a listener's accept loop). Nothing here holds a `RefCell`
//! borrow while a task runs, because a running task spawns, registers
//! sockets and sets timers.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::ffi::c_void;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use mlua::{Function, Lua, MultiValue, Value};
use slab::Slab;

type TaskFuture = Pin<Box<dyn Future<Output = ()>>>;

/// How many batches of woken tasks one `run_ready` runs before the loop
/// polls the reactor again.
const BATCHES: usize = 16;

/// Task ids woken since the last run, plus the flag of the blocking caller.
#[derive(Default)]
struct ReadyQueue {
    ids: Mutex<Vec<usize>>,
    main: AtomicBool,
}

struct TaskWaker {
    id: usize,
    queued: AtomicBool,
    queue: Arc<ReadyQueue>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.queue
                .ids
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(self.id);
        }
    }
}

/// Wakes the main thread's blocking call (see [`super::context`]).
struct MainWaker(Arc<ReadyQueue>);

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.0.main.store(true, Ordering::Release);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.main.store(true, Ordering::Release);
    }
}

struct Slot {
    future: Option<TaskFuture>,
    waker: Arc<TaskWaker>,
    /// The coroutine of a Lua task, to tell "am I in this task?".
    thread: Option<*const c_void>,
    /// A Lua task's shared state, to tell who is joining whom.
    shared: Option<Weak<TaskShared>>,
}

/// What a Lua task ended with, shared with its `Task` handle.
#[derive(Default)]
pub(crate) struct TaskShared {
    pub(crate) result: RefCell<Option<Result<MultiValue, Value>>>,
    joiners: RefCell<Vec<Waker>>,
    /// Set by `task:cancel`: the error that every later wait raises.
    cancel: RefCell<Option<Value>>,
    /// The task's slot while it lives (to wake it when cancelled).
    slot: Cell<Option<usize>>,
    /// The task this one is joining, if any (see [`super::joins`]).
    waits_for: RefCell<Option<Weak<TaskShared>>>,
    /// Set when the task's coroutine was resumed by hand (see
    /// [`super::by_hand`]): the error the task ends with, at its next run.
    broken: RefCell<Option<Value>>,
}

impl TaskShared {
    /// Waits (as a future) for the result.
    pub(crate) fn poll_result(&self, cx: &mut Context<'_>) -> Poll<Result<MultiValue, Value>> {
        if let Some(r) = &*self.result.borrow() {
            return Poll::Ready(r.clone());
        }
        let mut joiners = self.joiners.borrow_mut();
        if !joiners.iter().any(|w| w.will_wake(cx.waker())) {
            joiners.push(cx.waker().clone());
        }
        Poll::Pending
    }

    pub(crate) fn is_done(&self) -> bool {
        self.result.borrow().is_some()
    }

    pub(crate) fn waits_for(&self) -> Option<Rc<TaskShared>> {
        self.waits_for.borrow().as_ref().and_then(Weak::upgrade)
    }

    pub(crate) fn set_waits_for(&self, target: Option<&Rc<TaskShared>>) {
        *self.waits_for.borrow_mut() = target.map(Rc::downgrade);
    }

    /// Forgets a joiner that stopped waiting (timed out or was cancelled),
    /// so a later failure is raised instead of handed to nobody.
    pub(crate) fn unjoin(&self, waker: &Waker) {
        self.joiners.borrow_mut().retain(|w| !w.will_wake(waker));
    }

    /// Runs the task's coroutine until it ends, or until the task is found
    /// broken: then it is not resumed again.
    async fn unless_broken<F>(&self, running: F) -> mlua::Result<MultiValue>
    where
        F: Future<Output = mlua::Result<MultiValue>>,
    {
        let mut running = std::pin::pin!(running);
        std::future::poll_fn(|cx| {
            if let Some(v) = self.broken.borrow().clone() {
                return Poll::Ready(Ok(MultiValue::from_iter([Value::Boolean(false), v])));
            }
            running.as_mut().poll(cx)
        })
        .await
    }

    /// The error value of a cancelled task, if `task:cancel` was called.
    pub(crate) fn cancel_value(&self) -> Option<Value> {
        self.cancel.borrow().clone()
    }
}

/// Whether the error a task ended with is its own cancellation (and not a
/// different error raised by a cleanup): the same value, or the string
/// with a traceback appended.
fn is_cancellation(err: &Value, cancel: &Value) -> bool {
    match (err, cancel) {
        (Value::String(e), Value::String(c)) => e.as_bytes().starts_with(&c.as_bytes()),
        (Value::Error(e), Value::String(c)) => e.to_string().contains(&*c.to_string_lossy()),
        // Lua 5.1 hands the loop a table error as its text ("table: 0x...").
        (Value::String(e), c) if !c.to_pointer().is_null() => e
            .to_string_lossy()
            .contains(&format!("{:p}", c.to_pointer())),
        // Booleans and numbers have no identity: the same value.
        (Value::Boolean(e), Value::Boolean(c)) => e == c,
        (e, c) if number(c).is_some() => number(e) == number(c),
        (e, c) => e.to_pointer() == c.to_pointer() && !c.to_pointer().is_null(),
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// What becomes of a failed task nobody joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnError {
    /// Raised out of whatever drives the loop.
    Raise,
    /// Reported on stderr (server connection handlers).
    Report,
}

/// `debug.traceback(thread, message)` for a task that ended in `e`.
fn traceback(thread: &mlua::Thread, e: mlua::Error) -> Value {
    let text = crate::api::surface::message(&e);
    let lua = thread.weak_lua().try_upgrade();
    let traced = lua.and_then(|lua| {
        let debug: mlua::Table = lua.globals().get("debug").ok()?;
        let f: Function = debug.get("traceback").ok()?;
        f.call::<Value>((thread.clone(), text.clone())).ok()
    });
    match traced {
        Some(v @ Value::String(_)) => v,
        _ => Value::Error(Box::new(e)),
    }
}

pub(crate) struct Executor {
    slots: RefCell<Slab<Slot>>,
    queue: Arc<ReadyQueue>,
    main_waker: Waker,
    running: RefCell<Vec<usize>>,
    /// The slot being polled, if any.
    current: Cell<Option<usize>>,
    /// Errors of tasks that nobody was joining, to raise from the driver.
    failures: RefCell<VecDeque<Value>>,
    /// The failure being raised right now (see `take_failure`).
    raised: RefCell<Option<Value>>,
    /// The slot of each Lua task's coroutine (see [`Self::resumed_by_hand`]).
    threads: RefCell<std::collections::HashMap<*const c_void, usize>>,
    /// What a task whose poll panicked ends with (see [`Forsake`]).
    panic_error: RefCell<Value>,
}

impl Executor {
    pub(crate) fn new() -> Self {
        let queue = Arc::new(ReadyQueue::default());
        Self {
            slots: RefCell::new(Slab::new()),
            main_waker: Waker::from(Arc::new(MainWaker(queue.clone()))),
            queue,
            running: RefCell::new(Vec::new()),
            current: Cell::new(None),
            failures: RefCell::new(VecDeque::new()),
            raised: RefCell::new(None),
            threads: RefCell::new(std::collections::HashMap::new()),
            panic_error: RefCell::new(Value::Nil),
        }
    }

    /// Adds a task and schedules its first run.
    pub(crate) fn spawn(&self, future: TaskFuture, thread: Option<*const c_void>) -> usize {
        let mut slots = self.slots.borrow_mut();
        let entry = slots.vacant_entry();
        let id = entry.key();
        let waker = Arc::new(TaskWaker {
            id,
            queued: AtomicBool::new(false),
            queue: self.queue.clone(),
        });
        waker.wake_by_ref();
        entry.insert(Slot {
            future: Some(future),
            waker,
            thread,
            shared: None,
        });
        if let Some(t) = thread {
            self.threads.borrow_mut().insert(t, id);
        }
        id
    }

    /// Marks a task cancelled and wakes it, so its current wait (or its
    /// first run) sees the mark. Returns false when the task had ended.
    pub(crate) fn cancel(&self, task: &TaskShared, value: Value) -> bool {
        if task.is_done() {
            return false;
        }
        if task.cancel.borrow().is_none() {
            *task.cancel.borrow_mut() = Some(value);
        }
        if let Some(id) = task.slot.get() {
            if let Some(slot) = self.slots.borrow().get(id) {
                slot.waker.wake_by_ref();
            }
        }
        true
    }

    /// The cancellation error of the task being polled, if it was cancelled.
    pub(crate) fn current_cancel(&self) -> Option<Value> {
        let id = self.current.get()?;
        let slots = self.slots.borrow();
        let task = slots.get(id)?.shared.as_ref()?.upgrade()?;
        task.cancel_value()
    }

    /// Spawns a Lua coroutine running `wrapper(args...)`; the wrapper is the
    /// `xpcall` shim of `loop.spawn`, so the thread returns
    /// `true, results...` or `false, error-with-traceback`.
    pub(crate) fn spawn_lua(
        &self,
        rt: Weak<super::Runtime>,
        lua: &Lua,
        wrapper: Function,
        args: MultiValue,
        on_error: OnError,
    ) -> mlua::Result<Rc<TaskShared>> {
        let thread = lua.create_thread(wrapper)?;
        let ptr = thread.to_pointer();
        let traced = thread.clone();
        let traced_lua = lua.weak();
        let running = thread.into_async::<MultiValue>(args)?;
        let shared = Rc::new(TaskShared::default());
        let done = shared.clone();
        let future = async move {
            // A task cancelled before its first run never runs.
            let result = match done.cancel_value() {
                Some(c) => Err(c),
                None => match done.unless_broken(running).await {
                    Ok(mut values) => match values.pop_front() {
                        Some(Value::Boolean(true)) => Ok(values),
                        Some(Value::Boolean(false)) => {
                            Err(values.pop_front().unwrap_or(Value::Nil))
                        }
                        _ => Ok(values),
                    },
                    // The loop never finishes a coroutine and then resumes
                    // it: someone else did (runtime/by_hand.rs).
                    Err(mlua::Error::CoroutineUnresumable) => Err(traced_lua
                        .try_upgrade()
                        .map_or(Value::Nil, |lua| super::by_hand::ended_outside(&lua))),
                    // Only where the wrapper could not catch it (Lua 5.1): add
                    // the dead coroutine's traceback.
                    Err(e) => Err(traceback(&traced, e)),
                },
            };
            // A task that ends by its cancellation hands `join` the
            // cancellation value itself (no traceback: it is not a bug), and
            // nobody else hears of it.
            let (result, quiet) = match (result, done.cancel_value()) {
                (Err(e), Some(c)) if is_cancellation(&e, &c) => (Err(c), true),
                (r, _) => (r, false),
            };
            done.slot.set(None);
            let failed = result.as_ref().err().filter(|_| !quiet).cloned();
            *done.result.borrow_mut() = Some(result);
            let joiners = std::mem::take(&mut *done.joiners.borrow_mut());
            if let Some(err) = failed {
                if on_error == OnError::Report {
                    let text = match &err {
                        Value::String(s) => s.to_string_lossy(),
                        other => format!("{other:?}"),
                    };
                    eprintln!("tls: connection handler failed: {text}");
                } else if joiners.is_empty() {
                    if let Some(rt) = rt.upgrade() {
                        rt.exec.failures.borrow_mut().push_back(err);
                    }
                }
            }
            joiners.into_iter().for_each(Waker::wake);
        };
        let id = self.spawn(Box::pin(future), Some(ptr));
        shared.slot.set(Some(id));
        if let Some(slot) = self.slots.borrow_mut().get_mut(id) {
            slot.shared = Some(Rc::downgrade(&shared));
        }
        Ok(shared)
    }

    pub(crate) fn has_ready(&self) -> bool {
        self.queue.main.load(Ordering::Acquire)
            || !self
                .queue
                .ids
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
    }

    /// Runs every task that was ready when called, then those the batch
    /// woke, for at most [`BATCHES`] batches: a hand-over between tasks
    /// (a queue, a cond) then costs no reactor poll, while tasks that keep
    /// waking each other still let I/O and timers in every few batches.
    pub(crate) fn run_ready(&self) {
        let mut batch = std::mem::take(&mut *self.running.borrow_mut());
        for _ in 0..BATCHES {
            std::mem::swap(
                &mut batch,
                &mut *self.queue.ids.lock().unwrap_or_else(|e| e.into_inner()),
            );
            if batch.is_empty() {
                break;
            }
            {
                let next = Cell::new(0);
                let _requeue = Requeue {
                    queue: &self.queue,
                    batch: &batch,
                    next: &next,
                };
                for &id in &batch {
                    next.set(next.get() + 1);
                    self.poll_task(id);
                }
            }
            batch.clear();
            // A failure to raise, or a blocking call whose wait is over,
            // goes back to the driver at once.
            if self.has_failure() || self.queue.main.load(Ordering::Acquire) {
                break;
            }
        }
        *self.running.borrow_mut() = batch;
    }

    fn poll_task(&self, id: usize) {
        let (mut future, waker) = {
            let mut slots = self.slots.borrow_mut();
            let Some(slot) = slots.get_mut(id) else {
                return;
            };
            slot.waker.queued.store(false, Ordering::Release);
            let Some(future) = slot.future.take() else {
                return;
            };
            (future, Waker::from(slot.waker.clone()))
        };
        let poll = {
            // Restored on unwinding too: a panic in a task (a bug) that
            // reaches Lua as an error must not leave the main thread
            // counted as that task.
            let _current = Current::enter(&self.current, id);
            let _forsake = Forsake { exec: self, id };
            future.as_mut().poll(&mut Context::from_waker(&waker))
        };
        let mut slots = self.slots.borrow_mut();
        match poll {
            Poll::Ready(()) => {
                if slots.contains(id) {
                    if let Some(t) = slots.remove(id).thread {
                        self.forget_thread(t, id);
                    }
                }
            }
            Poll::Pending => {
                if let Some(slot) = slots.get_mut(id) {
                    slot.future = Some(future);
                }
            }
        }
        drop(slots);
    }

    pub(crate) fn has_failure(&self) -> bool {
        !self.failures.borrow().is_empty()
    }

    /// Raises the oldest error of an unjoined task, if any: the value waits
    /// in `raised` for the Lua boundary, which raises it unchanged (see
    /// `api::surface`).
    pub(crate) fn take_failure(&self) -> mlua::Result<()> {
        match self.failures.borrow_mut().pop_front() {
            None => Ok(()),
            Some(v) => {
                *self.raised.borrow_mut() = Some(v);
                Err(crate::api::surface::task_failed())
            }
        }
    }

    /// The error value `take_failure` raised, for the boundary to raise.
    pub(crate) fn take_raised(&self) -> Option<Value> {
        self.raised.borrow_mut().take()
    }

    /// Live tasks (Lua tasks and listeners).
    pub(crate) fn count(&self) -> usize {
        self.slots.borrow().len()
    }

    /// Whether a task (or a coroutine inside one) is running right now.
    pub(crate) fn in_task(&self) -> bool {
        self.current.get().is_some()
    }

    /// The waker of the task being polled (it parks itself without a future).
    pub(crate) fn current_waker(&self) -> Option<Waker> {
        let id = self.current.get()?;
        self.slots
            .borrow()
            .get(id)
            .map(|s| Waker::from(s.waker.clone()))
    }

    /// The waker of the task being polled when `thread` is its coroutine
    /// (the caller may park it and yield); `None` outside a task or in a
    /// coroutine the loop did not start.
    pub(crate) fn waker_for(&self, thread: *const c_void) -> Option<Waker> {
        let id = self.current.get()?;
        let slots = self.slots.borrow();
        let slot = slots.get(id)?;
        (slot.thread == Some(thread)).then(|| Waker::from(slot.waker.clone()))
    }

    /// As [`Self::waker_for`], but `None` too when the task was cancelled:
    /// a fast path that finds `Some` may park the task itself, since the
    /// general path would do nothing else.
    pub(crate) fn parkable(&self, thread: *const c_void) -> Option<Waker> {
        let id = self.current.get()?;
        let slots = self.slots.borrow();
        let slot = slots.get(id)?;
        if slot.thread != Some(thread) {
            return None;
        }
        let cancelled = slot
            .shared
            .as_ref()
            .and_then(Weak::upgrade)
            .is_some_and(|t| t.cancel.borrow().is_some());
        (!cancelled).then(|| Waker::from(slot.waker.clone()))
    }

    /// The task whose coroutine is `thread` while the executor is not
    /// running it: its coroutine was resumed by hand. `None` for any other
    /// coroutine, and for the task being polled.
    pub(crate) fn resumed_by_hand(&self, thread: *const c_void) -> Option<usize> {
        let id = *self.threads.borrow().get(&thread)?;
        (self.current.get() != Some(id)).then_some(id)
    }

    /// Forgets that `thread` is task `id`'s coroutine, unless it is
    /// another task's by now (mlua may hand a finished coroutine to a new
    /// task).
    fn forget_thread(&self, thread: *const c_void, id: usize) {
        if let Ok(mut threads) = self.threads.try_borrow_mut() {
            if threads.get(&thread) == Some(&id) {
                threads.remove(&thread);
            }
        }
    }

    /// The slot of the task being polled.
    pub(crate) fn current_id(&self) -> Option<usize> {
        self.current.get()
    }

    /// Whether task `id` still lives and `waker` is its own (a slot may
    /// have gone to a new task since).
    pub(crate) fn task_lives(&self, id: usize, waker: &Waker) -> bool {
        let slots = self.slots.borrow();
        slots
            .get(id)
            .is_some_and(|s| Waker::from(s.waker.clone()).will_wake(waker))
    }

    /// The waker of task `id`.
    pub(crate) fn waker_of(&self, id: usize) -> Option<Waker> {
        let slots = self.slots.borrow();
        slots.get(id).map(|s| Waker::from(s.waker.clone()))
    }

    /// The error a task ends with when its poll panics (a bug): set once
    /// the Lua state can make it.
    pub(crate) fn set_panic_error(&self, error: Value) {
        *self.panic_error.borrow_mut() = error;
    }

    /// Ends task `id`, whose poll panicked: its slot goes (it has no
    /// future left to poll), and a Lua task's `join` answers `false` with
    /// the panic error instead of waiting forever.
    fn forsake(&self, id: usize) {
        let Ok(mut slots) = self.slots.try_borrow_mut() else {
            return;
        };
        let Some(slot) = slots.try_remove(id) else {
            return;
        };
        drop(slots);
        if let Some(t) = slot.thread {
            self.forget_thread(t, id);
        }
        let Some(task) = slot.shared.as_ref().and_then(Weak::upgrade) else {
            return;
        };
        task.slot.set(None);
        if let (Ok(mut result), Ok(error)) =
            (task.result.try_borrow_mut(), self.panic_error.try_borrow())
        {
            result.get_or_insert_with(|| Err(error.clone()));
        }
        let joiners = match task.joiners.try_borrow_mut() {
            Ok(mut j) => std::mem::take(&mut *j),
            Err(_) => Vec::new(),
        };
        joiners.into_iter().for_each(Waker::wake);
    }

    /// Marks task `id` broken with `error` (the first error stays) and wakes
    /// it, so the loop ends it with that error instead of resuming it.
    pub(crate) fn break_task(&self, id: usize, error: Value) {
        let slots = self.slots.borrow();
        let Some(slot) = slots.get(id) else { return };
        if let Some(task) = slot.shared.as_ref().and_then(Weak::upgrade) {
            task.broken.borrow_mut().get_or_insert(error);
        }
        slot.waker.wake_by_ref();
    }

    /// Makes `thread` the coroutine of the task being polled (Lua 5.1 runs a
    /// task's function in a nested coroutine, see `api/spawn.lua`).
    pub(crate) fn adopt_thread(&self, thread: *const c_void) {
        if let Some(id) = self.current.get() {
            if let Some(slot) = self.slots.borrow_mut().get_mut(id) {
                if let Some(old) = slot.thread.replace(thread) {
                    self.forget_thread(old, id);
                }
                self.threads.borrow_mut().insert(thread, id);
            }
        }
    }

    /// The shared state of the Lua task being polled.
    pub(crate) fn current_task(&self) -> Option<Rc<TaskShared>> {
        let id = self.current.get()?;
        self.slots
            .borrow()
            .get(id)
            .and_then(|s| s.shared.as_ref())
            .and_then(Weak::upgrade)
    }

    /// The coroutine of the task being polled.
    pub(crate) fn current_thread(&self) -> Option<*const c_void> {
        let id = self.current.get()?;
        self.slots.borrow().get(id).and_then(|s| s.thread)
    }

    pub(crate) fn main_waker(&self) -> &Waker {
        &self.main_waker
    }

    /// Consumes the blocking caller's wake-up flag.
    pub(crate) fn take_main_wake(&self) -> bool {
        self.queue.main.swap(false, Ordering::AcqRel)
    }

    /// Drops every task (the Lua state is closing).
    pub(crate) fn shutdown(&self) {
        let slots = std::mem::take(&mut *self.slots.borrow_mut());
        self.threads.borrow_mut().clear();
        drop(slots);
        self.failures.borrow_mut().clear();
        self.raised.borrow_mut().take();
    }
}

/// Waits for a task's result; `None` when `timeout` passes first (the
/// task goes on, and a later failure is raised as if nobody had joined).
pub(crate) async fn join(
    rt: &Rc<super::Runtime>,
    task: &TaskShared,
    timeout: Option<std::time::Duration>,
) -> Option<Result<MultiValue, Value>> {
    struct Leave<'a>(&'a TaskShared, Option<Waker>);
    impl Drop for Leave<'_> {
        fn drop(&mut self) {
            if let Some(w) = &self.1 {
                if !self.0.is_done() {
                    self.0.unjoin(w);
                }
            }
        }
    }
    let mut leave = Leave(task, None);
    let mut deadline = super::deadline::Deadline::after(rt, timeout);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(r) = task.poll_result(cx) {
            return Poll::Ready(Some(r));
        }
        leave.1 = Some(cx.waker().clone());
        if deadline.poll_expired(cx) {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// Marks the task being polled for the guard's life (see `poll_task`).
/// Puts the tasks of a batch that were not polled yet back in front of
/// the ready queue if a poll panics (a bug that reaches Lua as an error):
/// they are still marked queued, so no wake would ever queue them again.
struct Requeue<'a> {
    queue: &'a ReadyQueue,
    batch: &'a [usize],
    /// How many of `batch` were taken for polling.
    next: &'a Cell<usize>,
}

impl Drop for Requeue<'_> {
    fn drop(&mut self) {
        let rest = self.batch.get(self.next.get()..).unwrap_or_default();
        if std::thread::panicking() && !rest.is_empty() {
            let mut ids = self.queue.ids.lock().unwrap_or_else(|e| e.into_inner());
            ids.splice(0..0, rest.iter().copied());
        }
    }
}

/// Ends the task being polled if its poll panics (see `Executor::forsake`).
struct Forsake<'a> {
    exec: &'a Executor,
    id: usize,
}

impl Drop for Forsake<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.exec.forsake(self.id);
        }
    }
}

struct Current<'a> {
    cell: &'a Cell<Option<usize>>,
    outer: Option<usize>,
}

impl<'a> Current<'a> {
    fn enter(cell: &'a Cell<Option<usize>>, id: usize) -> Self {
        let outer = cell.replace(Some(id));
        Self { cell, outer }
    }
}

impl Drop for Current<'_> {
    fn drop(&mut self) {
        self.cell.set(self.outer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A task that panics does not strand the tasks queued after it in
    /// the same batch: they run on the next turn.
    #[test]
    fn a_panicking_task_leaves_the_rest_of_its_batch_queued() {
        let exec = Executor::new();
        let ran = Rc::new(Cell::new(0));
        exec.spawn(Box::pin(async { panic!("a bug") }), None);
        for _ in 0..3 {
            let ran = ran.clone();
            exec.spawn(Box::pin(async move { ran.set(ran.get() + 1) }), None);
        }
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| exec.run_ready()));
        assert!(caught.is_err());
        assert_eq!(ran.get(), 0);
        assert!(exec.has_ready());
        exec.run_ready();
        assert_eq!(ran.get(), 3);
    }

    /// A Lua task whose poll panics ends: its slot goes, and whoever
    /// joins it is woken with the panic error (it waited forever before).
    #[test]
    fn a_panicking_task_ends_for_its_joiners() {
        struct Flag;
        impl Wake for Flag {
            fn wake(self: Arc<Self>) {}
        }
        let exec = Executor::new();
        exec.set_panic_error(Value::Integer(7));
        let id = exec.spawn(
            Box::pin(async { panic!("a bug") }),
            Some(1 as *const c_void),
        );
        let shared = Rc::new(TaskShared::default());
        shared.slot.set(Some(id));
        exec.slots.borrow_mut()[id].shared = Some(Rc::downgrade(&shared));
        let waker = Waker::from(Arc::new(Flag));
        assert!(shared
            .poll_result(&mut Context::from_waker(&waker))
            .is_pending());
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| exec.run_ready()));
        assert!(caught.is_err());
        assert_eq!(exec.count(), 0);
        assert!(exec.threads.borrow().is_empty());
        assert!(
            shared.joiners.borrow().is_empty(),
            "the joiner was not woken"
        );
        match shared.poll_result(&mut Context::from_waker(&waker)) {
            Poll::Ready(Err(Value::Integer(7))) => {}
            _ => panic!("the task did not end with the panic error"),
        }
    }
}
