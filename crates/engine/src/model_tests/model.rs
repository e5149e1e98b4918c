//! The model: tasks in a `BTreeMap`, with the rules of docs/state-machine.md written
//! again, plainly. It never calls the engine. Each method applies one operation and
//! returns what the engine should answer; every state change lands in `moves`.

use super::ops::{How, Target};
use super::secs;
use crate::state::TaskState::{self, *};
use crate::task::{AttemptOutcome, Task, TaskId};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone)]
pub struct ModelTask {
    pub status: TaskState,
    pub parent: Option<TaskId>,
    pub prompt: String,
    pub effective_prompt: Option<String>,
    pub created_at: DateTime<Utc>,
    pub start_at: Option<DateTime<Utc>>,
    pub attempts: u32,
    pub max_attempts: u32,
    pub output: Option<String>,
    pub has_error: bool,
    pub has_cancel_reason: bool,
    /// Each attempt's number and how it ended (`None`: still running).
    pub history: Vec<(u32, Option<AttemptOutcome>)>,
    /// The claim that started the current (or last) attempt; 0 for none.
    pub claim: u64,
}

impl ModelTask {
    /// From the record a caller handed in.
    pub fn from_record(t: &Task, status: TaskState) -> Self {
        ModelTask {
            status,
            parent: t.parent_task_id,
            prompt: t.prompt.clone(),
            effective_prompt: t.effective_prompt.clone(),
            created_at: t.created_at,
            start_at: t.start_at,
            attempts: t.attempts,
            max_attempts: t.max_attempts,
            output: t.output.clone(),
            has_error: t.error.is_some(),
            has_cancel_reason: t.cancel_reason.is_some(),
            history: t.history.iter().map(|a| (a.number, a.outcome)).collect(),
            claim: 0,
        }
    }
}

/// One claimed attempt, as an executor would report it.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    pub id: TaskId,
    /// What the engine calls the claim: the length of the history right after it.
    pub claim_no: u32,
    /// What the model calls it.
    pub claim: u64,
}

/// A refused operation: the task and the state that refused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused(pub TaskId, pub TaskState);

pub type Move = (TaskId, Option<TaskState>, TaskState);

#[derive(Debug, Clone)]
pub struct Model {
    pub now: DateTime<Utc>,
    pub tasks: BTreeMap<TaskId, ModelTask>,
    /// Every claim made, for outcomes that arrive late.
    pub claims: Vec<Claim>,
    pub next_claim: u64,
    /// Numbers prompts and outputs.
    pub counter: u64,
    /// State changes of the current transaction, as events should report them.
    pub moves: Vec<Move>,
}

pub fn terminal(s: TaskState) -> bool {
    matches!(s, Completed | Failed | Cancelled)
}

pub fn bind(prompt: &str, output: &str) -> String {
    if prompt.contains("{{parent.output}}") {
        prompt.replace("{{parent.output}}", output)
    } else {
        format!("{output}\n\n{prompt}")
    }
}

impl Model {
    pub fn new() -> Self {
        Model {
            now: DateTime::from_timestamp(1_893_456_000, 0).unwrap(),
            tasks: BTreeMap::new(),
            claims: Vec::new(),
            next_claim: 1,
            counter: 0,
            moves: Vec::new(),
        }
    }

    pub fn nth(&self, pick: usize) -> Option<TaskId> {
        let n = self.tasks.len();
        (n > 0).then(|| *self.tasks.keys().nth(pick % n).unwrap())
    }

    pub fn task(&mut self, id: TaskId) -> &mut ModelTask {
        self.tasks.get_mut(&id).unwrap()
    }

    pub fn ready(&self, start_at: Option<DateTime<Utc>>) -> TaskState {
        match start_at {
            Some(at) if at > self.now => Scheduled,
            _ => Queued,
        }
    }

    pub fn insert(&mut self, id: TaskId, task: ModelTask) {
        self.moves.push((id, None, task.status));
        self.tasks.insert(id, task);
    }

    pub fn move_to(&mut self, id: TaskId, to: TaskState) {
        let task = self.task(id);
        let from = task.status;
        task.status = to;
        self.moves.push((id, Some(from), to));
    }

    pub fn children(&self, parent: TaskId) -> Vec<TaskId> {
        let of_parent = |(id, t): (&TaskId, &ModelTask)| (t.parent == Some(parent)).then_some(*id);
        self.tasks.iter().filter_map(of_parent).collect()
    }

    /// Tasks in `status` in the order they fall due: (start_at or created_at, id).
    pub fn in_due_order(&self, status: TaskState) -> Vec<TaskId> {
        let mut keyed: Vec<(i64, TaskId)> = (self.tasks.iter())
            .filter(|(_, t)| t.status == status)
            .map(|(id, t)| (t.start_at.unwrap_or(t.created_at).timestamp_micros(), *id))
            .collect();
        keyed.sort();
        keyed.into_iter().map(|(_, id)| id).collect()
    }

    /// A completed parent releases its waiting children; a failed or cancelled one
    /// cancels them, and their waiting children in turn.
    pub fn settle_children(&mut self, parent: TaskId) {
        let status = self.tasks[&parent].status;
        let output = self.tasks[&parent].output.clone().unwrap_or_default();
        for child in self.children(parent) {
            if self.tasks[&child].status != Waiting {
                continue;
            }
            match status {
                Completed => {
                    let c = self.task(child);
                    c.effective_prompt = Some(bind(&c.prompt, &output));
                    let to = self.ready(self.tasks[&child].start_at);
                    self.move_to(child, to);
                }
                Failed | Cancelled => {
                    self.task(child).has_cancel_reason = true;
                    self.move_to(child, Cancelled);
                    self.settle_children(child);
                }
                _ => {}
            }
        }
    }

    pub fn end_attempt(&mut self, id: TaskId, outcome: AttemptOutcome) {
        let last = self.task(id).history.last_mut().unwrap();
        assert_eq!(last.1, None, "the model ends an attempt twice");
        last.1 = Some(outcome);
    }

    pub fn create(&mut self, task: &Task) -> TaskState {
        let status = self.ready(task.start_at);
        let mut t = ModelTask::from_record(task, status);
        t.created_at = self.now;
        self.insert(task.id, t);
        status
    }

    pub fn chain(&mut self, task: &Task) -> Result<TaskState, Refused> {
        let parent_id = task.parent_task_id.unwrap();
        let parent = &self.tasks[&parent_id];
        let (status, bound) = match parent.status {
            Failed | Cancelled => return Err(Refused(parent_id, parent.status)),
            Completed => {
                let output = parent.output.as_deref().unwrap_or("");
                (self.ready(task.start_at), Some(bind(&task.prompt, output)))
            }
            _ => (Waiting, None),
        };
        let mut t = ModelTask::from_record(task, status);
        t.created_at = self.now;
        t.effective_prompt = bound;
        self.insert(task.id, t);
        Ok(status)
    }

    pub fn promote(&mut self) -> (usize, Option<DateTime<Utc>>) {
        let now = self.now;
        let due: Vec<TaskId> = (self.in_due_order(Scheduled).into_iter())
            .filter(|id| self.tasks[id].start_at.unwrap() <= now)
            .collect();
        for id in &due {
            self.move_to(*id, Queued);
        }
        let next = (self.tasks.values())
            .filter(|t| t.status == Scheduled)
            .filter_map(|t| t.start_at)
            .min();
        (due.len(), next)
    }

    pub fn claim(&mut self, max: usize) -> Vec<(TaskId, u32)> {
        let mut claimed = Vec::new();
        for id in self.in_due_order(Queued).into_iter().take(max) {
            self.move_to(id, Running);
            let claim = self.next_claim;
            self.next_claim += 1;
            let t = self.task(id);
            t.attempts += 1;
            t.history.push((t.history.len() as u32 + 1, None));
            t.claim = claim;
            let (attempt, claim_no) = (t.attempts, t.history.len() as u32);
            self.claims.push(Claim {
                id,
                claim_no,
                claim,
            });
            claimed.push((id, attempt));
        }
        claimed
    }

    pub fn target(&self, target: Target) -> Option<Claim> {
        let current = |id: TaskId| {
            let t = &self.tasks[&id];
            let claim = if t.status == Running { t.claim } else { 0 };
            Claim {
                id,
                claim_no: t.history.len() as u32,
                claim,
            }
        };
        match target {
            Target::Current(pick) => {
                let running: Vec<TaskId> = (self.tasks.iter())
                    .filter(|(_, t)| t.status == Running)
                    .map(|(id, _)| *id)
                    .collect();
                (!running.is_empty()).then(|| current(running[pick % running.len()]))
            }
            Target::Past(pick) => {
                (!self.claims.is_empty()).then(|| self.claims[pick % self.claims.len()])
            }
            Target::OffByOne(pick) => self.nth(pick).map(|id| {
                let len = self.tasks[&id].history.len() as u32;
                let claim_no = if len == 0 || pick % 2 == 0 {
                    len + 1
                } else {
                    len - 1
                };
                Claim {
                    id,
                    claim_no,
                    claim: 0,
                }
            }),
            Target::Any(pick) => self.nth(pick).map(current),
        }
    }

    /// `rescheduled`: when the engine scheduled the retry, if it did; the model
    /// accepts any time within the backoff's jitter.
    pub fn finish(
        &mut self,
        c: Claim,
        how: How,
        output: &str,
        rescheduled: Option<DateTime<Utc>>,
    ) -> Option<TaskState> {
        let t = self.tasks.get(&c.id)?;
        if t.status != Running || t.claim != c.claim {
            return None;
        }
        let now = self.now;
        let t = self.task(c.id);
        let (to, ended) = match how {
            How::Complete => {
                t.output = Some(output.to_string());
                t.has_error = false;
                (Completed, AttemptOutcome::Completed)
            }
            How::FatalFail => {
                t.has_error = true;
                (Failed, AttemptOutcome::Failed)
            }
            How::RetryableFail | How::TimedOut if t.attempts < t.max_attempts => {
                t.has_error = true;
                let ceiling = secs((1i64 << (t.attempts - 1).min(20)).min(60));
                let at =
                    rescheduled.expect("a retryable failure with attempts left is rescheduled");
                assert!(
                    at >= now + ceiling / 2 && at <= now + ceiling,
                    "attempt {} retried at {at}, outside [now + {ceiling} / 2, now + {ceiling}]",
                    t.attempts
                );
                t.start_at = Some(at);
                (Scheduled, AttemptOutcome::Retrying)
            }
            How::RetryableFail | How::TimedOut => {
                t.has_error = true;
                (Failed, AttemptOutcome::Failed)
            }
            How::Interrupted => {
                t.attempts -= 1;
                (Queued, AttemptOutcome::Interrupted)
            }
        };
        let ended = match how {
            How::TimedOut => AttemptOutcome::TimedOut,
            _ => ended,
        };
        self.end_attempt(c.id, ended);
        self.move_to(c.id, to);
        self.settle_children(c.id);
        Some(to)
    }

    /// `(previous, changed, now)`.
    pub fn cancel(&mut self, id: TaskId) -> Result<(TaskState, bool, TaskState), Refused> {
        let from = self.tasks[&id].status;
        match from {
            Cancelled => Ok((from, false, Cancelled)),
            Completed | Failed => Err(Refused(id, from)),
            _ => {
                self.task(id).has_cancel_reason = true;
                if from == Running {
                    self.end_attempt(id, AttemptOutcome::Cancelled);
                }
                self.move_to(id, Cancelled);
                self.settle_children(id);
                Ok((from, true, Cancelled))
            }
        }
    }

    pub fn retry(&mut self, id: TaskId, max_attempts: Option<u32>) -> Result<TaskState, Refused> {
        let now = self.now;
        let t = &self.tasks[&id];
        let from = t.status;
        if !matches!(from, Failed | Cancelled) {
            return Err(Refused(id, from));
        }
        let (to, bound) = match t.parent.map(|p| &self.tasks[&p]) {
            None => (Queued, None),
            Some(p) if p.status == Completed => (
                Queued,
                Some(bind(&t.prompt, p.output.as_deref().unwrap_or(""))),
            ),
            Some(p) if matches!(p.status, Failed | Cancelled) => return Err(Refused(id, from)),
            // Its parent is pending (a failed child only comes so by import):
            // it waits again.
            Some(_) => (Waiting, None),
        };
        let t = self.task(id);
        if bound.is_some() {
            t.effective_prompt = bound;
        }
        if let Some(n) = max_attempts {
            t.max_attempts = n;
        }
        if t.start_at.is_some_and(|at| at > now) {
            t.start_at = Some(now);
        }
        t.attempts = 0;
        t.output = None;
        t.has_error = false;
        t.has_cancel_reason = false;
        self.move_to(id, to);
        Ok(to)
    }

    /// Running tasks were interrupted: queued again, or failed on their last attempt.
    pub fn recover(&mut self) -> BTreeSet<TaskId> {
        let running: BTreeSet<TaskId> = (self.tasks.iter())
            .filter(|(_, t)| t.status == Running)
            .map(|(id, _)| *id)
            .collect();
        for &id in &running {
            self.end_attempt(id, AttemptOutcome::Interrupted);
            let t = self.task(id);
            if t.attempts < t.max_attempts {
                self.move_to(id, Queued);
            } else {
                t.has_error = true;
                self.move_to(id, Failed);
                self.settle_children(id);
            }
        }
        running
    }

    /// `Ok((imported, skipped))`, or the positions of the records with no parent.
    pub fn import(&mut self, file: &[Task]) -> Result<(usize, Vec<TaskId>), Vec<usize>> {
        let in_file: BTreeSet<TaskId> = file.iter().map(|t| t.id).collect();
        let (mut skipped, mut bad, mut fresh) = (Vec::new(), Vec::new(), Vec::new());
        for (index, t) in file.iter().enumerate() {
            if self.tasks.contains_key(&t.id) {
                skipped.push(t.id);
                continue;
            }
            if let Some(p) = t.parent_task_id {
                if !in_file.contains(&p) && !self.tasks.contains_key(&p) {
                    bad.push(index);
                }
            }
            fresh.push(t);
        }
        if !bad.is_empty() {
            return Err(bad);
        }
        for t in &fresh {
            let mut task = ModelTask::from_record(t, t.status);
            if t.status == Running {
                // Its attempt ran in the exporting engine and is lost, as in a crash.
                task.history.last_mut().unwrap().1 = Some(AttemptOutcome::Interrupted);
                if t.attempts < t.max_attempts {
                    task.status = Queued;
                } else {
                    task.status = Failed;
                    task.has_error = true;
                }
            }
            self.insert(t.id, task);
        }
        for t in &fresh {
            if let (Waiting, Some(p)) = (t.status, t.parent_task_id) {
                if terminal(self.tasks[&p].status) {
                    self.settle_children(p);
                }
            }
        }
        Ok((fresh.len(), skipped))
    }
}
