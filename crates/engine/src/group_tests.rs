//! The group's counts and its join ("waits for N parents"), through the
//! storage interface: part of the conformance suite.

use super::*;
use crate::conformance::Backend;
use crate::lifecycle::tests::{completed, write};
use crate::lifecycle::{claim, finish, AttemptResult, Outcome};
use crate::task::Task;

fn failed(id: TaskId, claim_no: u32) -> Outcome {
    Outcome {
        result: AttemptResult::Failed {
            error: "refused".into(),
            retryable: false,
            retry_after: None,
            failure: None,
        },
        ..completed(id, claim_no)
    }
}

fn answered(id: TaskId, claim_no: u32, text: &str) -> Outcome {
    Outcome {
        result: AttemptResult::Completed {
            output: text.into(),
            output_json: None,
        },
        ..completed(id, claim_no)
    }
}

/// A group of `n` rows (`row N` each) and a join on `on`.
fn sample(n: u32, on: JoinOn) -> (Group, Vec<Task>, Task) {
    let id = GroupId::new();
    let member = |row| GroupMember {
        group_id: id,
        row,
        values: Default::default(),
    };
    let rows: Vec<Task> = (1..=n)
        .map(|i| {
            let mut t = Task::sample(&format!("row {i}"));
            t.group = Some(member(Some(i)));
            t
        })
        .collect();
    let mut join = Task::sample("Summarise:\n{{items}}");
    join.group = Some(member(None));
    let group = Group {
        id,
        name: format!("g-{id}"),
        created_at: chrono::Utc::now(),
        columns: vec!["item".into()],
        prompt: "row {{item}}".into(),
        total: n,
        completed: 0,
        failed: 0,
        cancelled: 0,
        join: Some(GroupJoin {
            task_id: join.id,
            on,
            status: TaskState::Waiting,
        }),
        status: GroupStatus::Running,
        cancelled_at: None,
    };
    (group, rows, join)
}

fn create_group<B: Backend>(store: &B, n: u32, on: JoinOn) -> (Group, Vec<TaskId>, TaskId) {
    let (group, rows, join) = sample(n, on);
    let ids = rows.iter().map(|t| t.id).collect();
    let join_id = join.id;
    let group = write(store, |txn, ctx| {
        apply(
            txn,
            ctx,
            GroupOp::Create {
                group: Box::new(group),
                rows,
                join: Some(Box::new(join)),
            },
        )
        .unwrap()
    });
    (group, ids, join_id)
}

pub(crate) fn a_join_waits_for_every_row_and_reads_their_answers_in_input_order<B: Backend>() {
    let place = B::place();
    let store = B::open(&place);
    let (group, rows, join) = create_group(&store, 3, JoinOn::All);
    assert_eq!(store.get(join).unwrap().unwrap().status, TaskState::Waiting);
    let listed: Vec<TaskId> = store
        .group_tasks(group.id, 0, 10)
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(listed, rows, "a group's rows read back in input order");
    assert_eq!(
        store.group_tasks(group.id, 1, 1).unwrap()[0].id,
        rows[1],
        "pages start at their offset"
    );

    let claimed = write(&store, |txn, ctx| claim(txn, ctx, 3).unwrap());
    assert_eq!(claimed.len(), 3, "the join is not claimed while it waits");
    // Rows end out of order; the join waits for the last of them.
    write(&store, |txn, ctx| {
        finish(txn, ctx, &answered(rows[2], 1, "third")).unwrap();
        finish(txn, ctx, &answered(rows[0], 1, "first")).unwrap();
    });
    assert_eq!(store.get(join).unwrap().unwrap().status, TaskState::Waiting);
    let g = &store.groups().unwrap()[0];
    assert_eq!(
        (g.completed, g.pending(), g.status),
        (2, 1, GroupStatus::Running)
    );

    write(&store, |txn, ctx| {
        finish(txn, ctx, &answered(rows[1], 1, "second")).unwrap()
    });
    assert_eq!(store.get(join).unwrap().unwrap().status, TaskState::Queued);
    let claimed = write(&store, |txn, ctx| claim(txn, ctx, 3).unwrap());
    assert_eq!(claimed.len(), 1);
    let prompt = claimed[0].effective_prompt.clone().unwrap();
    let (a, b, c) = (
        prompt.find("first").unwrap(),
        prompt.find("second").unwrap(),
        prompt.find("third").unwrap(),
    );
    assert!(a < b && b < c, "items in input order: {prompt}");
    write(&store, |txn, ctx| {
        finish(txn, ctx, &answered(join, 1, "summary")).unwrap()
    });
    let g = &store.groups().unwrap()[0];
    assert_eq!((g.completed, g.status), (3, GroupStatus::Completed));
}

pub(crate) fn a_failed_row_cancels_an_all_join_and_a_group_retry_brings_both_back<B: Backend>() {
    let place = B::place();
    let store = B::open(&place);
    let (group, rows, join) = create_group(&store, 2, JoinOn::All);
    write(&store, |txn, ctx| claim(txn, ctx, 2).unwrap());
    write(&store, |txn, ctx| {
        finish(txn, ctx, &answered(rows[0], 1, "one")).unwrap();
        finish(txn, ctx, &failed(rows[1], 1)).unwrap();
    });
    let j = store.get(join).unwrap().unwrap();
    assert_eq!(j.status, TaskState::Cancelled);
    assert!(j.cancel_reason.unwrap().contains("1 of 2 rows"));
    // Counts are durable with the outcomes that changed them.
    drop(store);
    let store = B::open(&place);
    let g = &store.groups().unwrap()[0];
    assert_eq!(
        (g.completed, g.failed, g.status),
        (1, 1, GroupStatus::Failed)
    );

    let g = write(&store, |txn, ctx| {
        apply(txn, ctx, GroupOp::Retry(group.id)).unwrap()
    });
    assert_eq!((g.failed, g.status), (0, GroupStatus::Running));
    assert_eq!(
        store.get(rows[1]).unwrap().unwrap().status,
        TaskState::Queued
    );
    assert_eq!(store.get(join).unwrap().unwrap().status, TaskState::Waiting);
    // A second retry has nothing to do, and says so.
    let again = write(&store, |txn, ctx| apply(txn, ctx, GroupOp::Retry(group.id)));
    assert!(matches!(
        again,
        Err(TaskError::Invalid { field: "group", .. })
    ));

    write(&store, |txn, ctx| claim(txn, ctx, 1).unwrap());
    write(&store, |txn, ctx| {
        finish(txn, ctx, &answered(rows[1], 2, "two")).unwrap()
    });
    assert_eq!(store.get(join).unwrap().unwrap().status, TaskState::Queued);
}

pub(crate) fn a_completed_join_runs_on_what_completed_and_a_group_cancel_never_starts_it<
    B: Backend,
>() {
    let place = B::place();
    let store = B::open(&place);
    let (_, rows, join) = create_group(&store, 2, JoinOn::Completed);
    write(&store, |txn, ctx| claim(txn, ctx, 2).unwrap());
    write(&store, |txn, ctx| {
        finish(txn, ctx, &failed(rows[0], 1)).unwrap();
        finish(txn, ctx, &answered(rows[1], 1, "kept")).unwrap();
    });
    assert_eq!(store.get(join).unwrap().unwrap().status, TaskState::Queued);
    let claimed = write(&store, |txn, ctx| claim(txn, ctx, 1).unwrap());
    let prompt = claimed[0].effective_prompt.clone().unwrap();
    assert!(
        prompt.contains("kept") && prompt.contains("row 2"),
        "{prompt}"
    );

    // Cancelling a group whose rows would all end does not start its join.
    let (group, rows, join) = create_group(&store, 2, JoinOn::Completed);
    write(&store, |txn, ctx| claim(txn, ctx, 1).unwrap());
    let g = write(&store, |txn, ctx| {
        apply(txn, ctx, GroupOp::Cancel(group.id)).unwrap()
    });
    assert_eq!((g.cancelled, g.status), (2, GroupStatus::Cancelled));
    assert_eq!(
        store.get(join).unwrap().unwrap().status,
        TaskState::Cancelled
    );
    for id in rows {
        assert_eq!(store.get(id).unwrap().unwrap().status, TaskState::Cancelled);
    }
}

pub(crate) fn a_finished_group_cannot_be_cancelled_and_stays_as_it_ended<B: Backend>() {
    let place = B::place();
    let store = B::open(&place);
    let (group, rows, join) = create_group(&store, 1, JoinOn::All);
    write(&store, |txn, ctx| claim(txn, ctx, 1).unwrap());
    write(&store, |txn, ctx| {
        finish(txn, ctx, &answered(rows[0], 1, "one")).unwrap()
    });
    write(&store, |txn, ctx| claim(txn, ctx, 1).unwrap());
    write(&store, |txn, ctx| {
        finish(txn, ctx, &answered(join, 1, "all")).unwrap()
    });
    let refused = write(&store, |txn, ctx| {
        apply(txn, ctx, GroupOp::Cancel(group.id))
    });
    assert!(
        matches!(refused, Err(TaskError::Invalid { field: "group", .. })),
        "{refused:?}"
    );
    assert_eq!(store.groups().unwrap()[0].status, GroupStatus::Completed);
}
