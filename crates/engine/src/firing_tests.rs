//! Schedules through the storage interface: each occurrence fires once, and a
//! fire lost with a crash fires again, once.

use super::*;
use crate::backoff::Backoff;
use crate::conformance::Backend;
use crate::state::TaskState;
use crate::storage::{Storage, UnitOfWork};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn at(hms: &str) -> DateTime<Utc> {
    format!("2026-01-05T{hms}Z").parse().unwrap()
}

/// Runs `f` at `now` in one unit of work, committed when `commit`.
fn unit<S: Storage, T>(
    store: &S,
    now: DateTime<Utc>,
    commit: bool,
    f: impl FnOnce(&mut <S::Unit as UnitOfWork>::Txn<'_>, &mut Ctx) -> T,
) -> T {
    let mut rng = StdRng::seed_from_u64(7);
    let unit = store.begin().unwrap();
    let mut txn = unit.txn();
    let mut ctx = Ctx {
        now,
        backoff: Backoff::default(),
        rng: &mut rng,
        events: &mut Vec::new(),
        schedules: &mut Vec::new(),
    };
    let out = f(&mut txn, &mut ctx);
    drop(txn);
    if commit {
        unit.commit().unwrap();
    }
    out
}

/// The tasks stored for the schedule `id`.
fn fired(store: &impl Storage, id: ScheduleId) -> Vec<Task> {
    let all = store.all().unwrap();
    all.into_iter()
        .filter(|t| t.schedule_id == Some(id))
        .collect()
}

pub(crate) fn a_due_schedule_fires_once_per_occurrence_even_across_a_crash<B: Backend>() {
    let place = B::place();
    let store = B::open(&place);
    let added = unit(&store, at("10:00:30"), true, |txn, ctx| {
        add(txn, ctx, Schedule::sample("every minute", "* * * * *")).unwrap()
    });
    assert_eq!(added.next_fire_at, Some(at("10:01:00")));
    // Not due yet: nothing fires.
    let next = unit(&store, at("10:00:59"), true, |txn, ctx| {
        fire_due(txn, ctx).unwrap()
    });
    assert_eq!(next, Some(at("10:01:00")));
    assert!(fired(&store, added.id).is_empty());

    // Fired, then the process dies before the commit: the fire is lost with it.
    unit(&store, at("10:01:10"), false, |txn, ctx| {
        fire_due(txn, ctx).unwrap()
    });
    drop(store);
    let store = B::open(&place);
    assert!(
        fired(&store, added.id).is_empty(),
        "an uncommitted fire left a task"
    );

    // Fired again after the restart: one task for the 10:01 occurrence.
    let next = unit(&store, at("10:01:10"), true, |txn, ctx| {
        fire_due(txn, ctx).unwrap()
    });
    assert_eq!(next, Some(at("10:02:00")));
    // The same moment again (a second wake-up) fires nothing more.
    unit(&store, at("10:01:20"), true, |txn, ctx| {
        fire_due(txn, ctx).unwrap()
    });
    let tasks = fired(&store, added.id);
    assert_eq!(tasks.len(), 1, "one task per occurrence");
    assert_eq!(tasks[0].status, TaskState::Queued);
    let stored = store.schedules().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].runs, 1);
    assert_eq!(stored[0].last_fired_at, Some(at("10:01:10")));
    assert_eq!(stored[0].next_fire_at, Some(at("10:02:00")));
}
