//! What the property generates: steps, each a few operations on tasks picked by index.

use crate::state::TaskState;
use proptest::prelude::*;

#[derive(Debug, Clone, Copy)]
pub enum How {
    Complete,
    RetryableFail,
    FatalFail,
    TimedOut,
    Interrupted,
}

/// Which attempt an outcome claims to be for.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// The current attempt of a running task.
    Current(usize),
    /// Any attempt ever claimed, current or long gone.
    Past(usize),
    /// Any task, with its run number off by one: always stale.
    OffByOne(usize),
    /// Any task, with its current run number: stale unless the task is running.
    Any(usize),
}

#[derive(Debug, Clone, Copy)]
pub enum ParentRef {
    None,
    Stored(usize),
    /// An earlier record of the same file.
    InFile(usize),
    /// An id found nowhere: the whole import is refused.
    Missing,
}

#[derive(Debug, Clone)]
pub struct ImportRec {
    pub id: u128,
    pub status: TaskState,
    pub parent: ParentRef,
    pub attempts: u32,
    pub max_attempts: u32,
    pub age_s: i64,
}

#[derive(Debug, Clone)]
pub enum Op {
    /// `delay_s`: `start_at` relative to now (negative: already due).
    Submit {
        delay_s: Option<i64>,
        max_attempts: u32,
    },
    Chain {
        parent: usize,
        delay_s: Option<i64>,
        max_attempts: u32,
    },
    Promote,
    Claim {
        max: usize,
    },
    Finish {
        target: Target,
        how: How,
    },
    Cancel {
        pick: usize,
    },
    Retry {
        pick: usize,
        max_attempts: Option<u32>,
    },
    Import {
        records: Vec<ImportRec>,
        /// Also a copy of a stored task, which must be skipped.
        existing: Option<usize>,
    },
}

#[derive(Debug, Clone)]
pub enum Step {
    /// One write transaction, committed.
    Commit(Vec<Op>),
    /// One write transaction, dropped without commit.
    Abort(Vec<Op>),
    /// The clock moves on by this many seconds, then `promote_due` commits.
    Advance(i64),
    /// These operations are left uncommitted, the store is closed and reopened,
    /// and `recover` runs.
    Crash(Vec<Op>),
}

fn how() -> impl Strategy<Value = How> {
    prop_oneof![
        3 => Just(How::Complete),
        3 => Just(How::RetryableFail),
        1 => Just(How::FatalFail),
        1 => Just(How::TimedOut),
        1 => Just(How::Interrupted),
    ]
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        6 => any::<usize>().prop_map(Target::Current),
        2 => any::<usize>().prop_map(Target::Past),
        1 => any::<usize>().prop_map(Target::OffByOne),
        1 => any::<usize>().prop_map(Target::Any),
    ]
}

fn import_rec() -> impl Strategy<Value = ImportRec> {
    let parent = prop_oneof![
        3 => Just(ParentRef::None),
        3 => any::<usize>().prop_map(ParentRef::Stored),
        2 => any::<usize>().prop_map(ParentRef::InFile),
        1 => Just(ParentRef::Missing),
    ];
    (
        any::<u128>(),
        proptest::sample::select(TaskState::ALL.to_vec()),
        parent,
        0u32..5,
        1u32..=4,
        0i64..600,
    )
        .prop_map(
            |(id, status, parent, attempts, max_attempts, age_s)| ImportRec {
                id,
                status,
                parent,
                attempts,
                max_attempts,
                age_s,
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    let delay = proptest::option::of(-30i64..120);
    prop_oneof![
        4 => (delay.clone(), 1u32..=4)
            .prop_map(|(delay_s, max_attempts)| Op::Submit { delay_s, max_attempts }),
        3 => (any::<usize>(), delay, 1u32..=4).prop_map(|(parent, delay_s, max_attempts)| {
            Op::Chain { parent, delay_s, max_attempts }
        }),
        1 => Just(Op::Promote),
        3 => (1usize..=4).prop_map(|max| Op::Claim { max }),
        5 => (target(), how()).prop_map(|(target, how)| Op::Finish { target, how }),
        2 => any::<usize>().prop_map(|pick| Op::Cancel { pick }),
        2 => (any::<usize>(), proptest::option::of(1u32..=4))
            .prop_map(|(pick, max_attempts)| Op::Retry { pick, max_attempts }),
        1 => (
            proptest::collection::vec(import_rec(), 1..=3),
            proptest::option::of(any::<usize>()),
        )
            .prop_map(|(records, existing)| Op::Import { records, existing }),
    ]
}

pub fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => proptest::collection::vec(op(), 1..=3).prop_map(Step::Commit),
        1 => proptest::collection::vec(op(), 1..=2).prop_map(Step::Abort),
        2 => (0i64..90).prop_map(Step::Advance),
        1 => proptest::collection::vec(op(), 0..=2).prop_map(Step::Crash),
    ]
}
