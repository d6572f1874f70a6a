//! Join cycles. A task that joins itself, or joins a task that is (through
//! a chain of joins) waiting for it, would wait forever and keep the loop
//! from ending; `task:join` raises instead. Each task records the task it
//! is joining; the chain from the joined task is followed before waiting.
//! There is never a cycle in the records (one is refused before it forms),
//! so the walk ends, after at most one step per live task.

use std::rc::Rc;

use super::executor::TaskShared;

/// The record of `me` joining `target`, removed when the join ends (by a
/// result, an error or the task being dropped).
pub(crate) struct Joining(Rc<TaskShared>);

impl Joining {
    /// Records that `me` waits for `target`, or explains why it never could
    /// stop waiting.
    pub(crate) fn enter(me: Rc<TaskShared>, target: &Rc<TaskShared>) -> Result<Self, String> {
        if Rc::ptr_eq(&me, target) {
            return Err("task:join: a task cannot join itself (it would wait forever)".into());
        }
        let mut next = Some(target.clone());
        let mut steps = 1;
        while let Some(t) = next {
            if Rc::ptr_eq(&t, &me) {
                return Err(format!(
                    "task:join: join cycle: {steps} tasks would each wait for the next, \
                     so none would end"
                ));
            }
            next = t.waits_for();
            steps += 1;
        }
        me.set_waits_for(Some(target));
        Ok(Self(me))
    }
}

impl Drop for Joining {
    fn drop(&mut self) {
        self.0.set_waits_for(None);
    }
}
