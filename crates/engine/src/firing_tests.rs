//! Schedules through the storage interface: each occurrence fires once, and a
//! fire lost with a crash fires again, once.

use super::*;
use crate::backoff::Backoff;
use crate::conformance::Backend;
use crate::state::TaskState;
use crate::storage::{Storage, UnitOfWork};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub(crate) fn at(hms: &str) -> DateTime<Utc> {
    format!("2026-01-05T{hms}Z").parse().unwrap()
}

/// Fires `f` at `now` in one unit of work, committed when `commit`.
pub(crate) fn unit<S: Storage, T>(
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

/// Fires `f` at `now` in one unit held open `hold` after it (not a wait for
/// anything: its locks stay held while other runners look), committed when
/// `f` succeeds and rolled back when it fails, as a writer's batch.
fn held_unit<S: Storage, T>(
    store: &S,
    now: DateTime<Utc>,
    hold: std::time::Duration,
    f: impl FnOnce(&mut <S::Unit as UnitOfWork>::Txn<'_>, &mut Ctx) -> Result<T, TaskError>,
) -> Result<T, TaskError> {
    let mut rng = StdRng::seed_from_u64(7);
    let work = store.begin()?;
    let mut txn = work.txn();
    let mut ctx = Ctx {
        now,
        backoff: Backoff::default(),
        rng: &mut rng,
        events: &mut Vec::new(),
        schedules: &mut Vec::new(),
    };
    let out = f(&mut txn, &mut ctx);
    std::thread::sleep(hold);
    drop(txn);
    let out = out?;
    work.commit()?;
    Ok(out)
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
    assert_eq!(stored[0].fires, 1);
    assert_eq!(stored[0].last_fired_at, Some(at("10:01:10")));
    assert_eq!(stored[0].next_fire_at, Some(at("10:02:00")));
}

/// Three runners (stores on one database) fire the same every-second
/// schedules, each in its own units, while a shared manual clock moves on by
/// random steps; each unit stays open a random moment after firing, so the
/// runners' units overlap, and now and then one asks for a manual fire. Every
/// (schedule, fire time) from the first to the last has exactly one fire, the
/// manual fires are extra fires, never taken for fires, and no unit failed (a
/// failed one is rolled back and done again, as a writer's batch would be).
pub(crate) fn runners_at_once_fire_each_schedule_once_per_fire_time<B>()
where
    B: Backend,
    B::Place: Sync,
{
    use std::sync::atomic::{AtomicI64, Ordering::SeqCst};
    const RUNNERS: u64 = 3;
    const SCHEDULES: usize = 5;
    const SECONDS: i64 = 40;
    let start = at("10:00:00.500");
    let place = B::place();
    let setup = B::open(&place);
    let ids: Vec<ScheduleId> = (0..SCHEDULES)
        .map(|i| {
            let mut s = Schedule::sample(&format!("every second {i}"), "* * * * * *");
            // Every fire time starts a fire (the fires are never claimed here).
            s.overlap = OverlapPolicy::Cancel;
            if i == 0 {
                s.template.follow_ups = vec!["and then".into()];
            }
            unit(&setup, start, true, |txn, ctx| add(txn, ctx, s).unwrap()).id
        })
        .collect();
    drop(setup);

    // Milliseconds past `start`, moved on by every runner after each unit.
    let clock = AtomicI64::new(0);
    let (manual, refused): (usize, Vec<TaskError>) = std::thread::scope(|scope| {
        let runners: Vec<_> = (0..RUNNERS)
            .map(|r| {
                let (place, clock, ids) = (&place, &clock, &ids);
                scope.spawn(move || {
                    let store = B::open(place);
                    let mut rng = StdRng::seed_from_u64(r);
                    let (mut manual, mut refused) = (0, Vec::new());
                    loop {
                        let ms = clock.load(SeqCst);
                        if ms > SECONDS * 1000 {
                            return (manual, refused);
                        }
                        let now = start + chrono::TimeDelta::milliseconds(ms);
                        let hold = std::time::Duration::from_micros(rng.random_range(0..2_000));
                        let asked = rng
                            .random_ratio(1, 10)
                            .then(|| ids[rng.random_range(0..ids.len())]);
                        let result = held_unit(&store, now, hold, |txn, ctx| {
                            if let Some(id) = asked {
                                fire_now(txn, ctx, id)?;
                            }
                            fire_due(txn, ctx)
                        });
                        match result {
                            Ok(_) => manual += usize::from(asked.is_some()),
                            // The next look does it again.
                            Err(e) => refused.push(e),
                        }
                        clock.fetch_add(rng.random_range(0..300), SeqCst);
                    }
                })
            })
            .collect();
        let (mut manual, mut refused) = (0, Vec::new());
        for runner in runners {
            let (m, r) = runner.join().unwrap();
            manual += m;
            refused.extend(r);
        }
        (manual, refused)
    });

    // The last fire times, up to the end, whichever runner had the clock last.
    let store = B::open(&place);
    let end = start + chrono::TimeDelta::seconds(SECONDS + 1);
    unit(&store, end, true, |txn, ctx| fire_due(txn, ctx).unwrap());

    let expected: Vec<DateTime<Utc>> = (1..=SECONDS + 1)
        .map(|s| at("10:00:00") + chrono::TimeDelta::seconds(s))
        .collect();
    let mut manual_seen = 0;
    for (i, id) in ids.iter().enumerate() {
        let tasks = fired(&store, *id);
        let firsts: Vec<&Task> = tasks
            .iter()
            .filter(|t| t.parent_task_id.is_none())
            .collect();
        let mut fires: Vec<DateTime<Utc>> = firsts.iter().filter_map(|t| t.start_at).collect();
        fires.sort();
        assert_eq!(
            fires, expected,
            "schedule {i}: exactly one fire per fire time, none missing"
        );
        manual_seen += firsts.iter().filter(|t| t.start_at.is_none()).count();
        let follow_ups = tasks.len() - firsts.len();
        assert_eq!(follow_ups, if i == 0 { firsts.len() } else { 0 });
        let s = store
            .schedules()
            .unwrap()
            .into_iter()
            .find(|s| s.id == *id)
            .unwrap();
        assert_eq!(
            s.fires as usize,
            firsts.len(),
            "schedule {i}: its count of fires"
        );
    }
    assert!(manual > 0, "the runners asked for manual fires");
    assert_eq!(manual_seen, manual, "every manual fire, as an extra fire");
    // The fire record is the second line: the row locks alone kept the runners
    // apart, so no unit was refused (nor deadlocked).
    assert!(refused.is_empty(), "units refused: {refused:?}");
}

/// Two runners each fire every-second schedules (a fire queued behind the
/// active one, or cancelling it) and work their fires, with follow-ups, in
/// their own units: a fire locks its schedule and then looks at (or cancels)
/// the fire's tasks, while the end of a fire locks its task and then its
/// schedule (to count the fire and start the queued fire).
/// No unit fails (a deadlock between the two would abort one), and no fire
/// time has two fires.
pub(crate) fn firing_and_ending_fires_at_once_never_deadlock<B>()
where
    B: Backend,
    B::Place: Sync,
{
    use crate::lifecycle::tests::completed;
    use crate::lifecycle::{claim, finish, promote_due};
    use std::sync::atomic::{AtomicI64, Ordering::SeqCst};
    const SECONDS: i64 = 30;
    let start = at("10:00:00.500");
    let place = B::place();
    let setup = B::open(&place);
    let ids: Vec<ScheduleId> = (0..3)
        .map(|i| {
            let mut s = Schedule::sample(&format!("every second {i}"), "* * * * * *");
            // A cancelling fire takes the fire's tasks while holding the schedule.
            s.overlap = if i == 2 {
                OverlapPolicy::Cancel
            } else {
                OverlapPolicy::Queue
            };
            s.template.follow_ups = vec!["and then".into()];
            unit(&setup, start, true, |txn, ctx| add(txn, ctx, s).unwrap()).id
        })
        .collect();
    drop(setup);

    let clock = AtomicI64::new(0);
    let failed: Vec<TaskError> = std::thread::scope(|scope| {
        let runners: Vec<_> = (0..2u64)
            .map(|r| {
                let (place, clock) = (&place, &clock);
                scope.spawn(move || {
                    let store = B::open(place);
                    let mut rng = StdRng::seed_from_u64(r);
                    let mut failed = Vec::new();
                    let mut hold = || std::time::Duration::from_micros(rng.random_range(0..1_000));
                    while clock.load(SeqCst) <= SECONDS * 1000 {
                        let now = start + chrono::TimeDelta::milliseconds(clock.load(SeqCst));
                        // As the writer's promotion: fire, promote, claim. (A
                        // queued fire another runner started for a time past
                        // this runner's clock waits as scheduled.)
                        let claimed = held_unit(&store, now, hold(), |txn, ctx| {
                            fire_due(txn, ctx)?;
                            promote_due(txn, ctx)?;
                            claim(txn, ctx, 2)
                        });
                        let claimed = match claimed {
                            Ok(claimed) => claimed,
                            Err(e) => {
                                failed.push(e);
                                continue;
                            }
                        };
                        for task in claimed {
                            let outcome = completed(task.id, task.attempts);
                            if let Err(e) = held_unit(&store, now, hold(), |txn, ctx| {
                                finish(txn, ctx, &outcome)
                            }) {
                                failed.push(e);
                            }
                        }
                        clock.fetch_add(100, SeqCst);
                    }
                    failed
                })
            })
            .collect();
        runners
            .into_iter()
            .flat_map(|r| r.join().unwrap())
            .collect()
    });
    assert!(failed.is_empty(), "units failed: {failed:?}");

    let store = B::open(&place);
    for id in &ids {
        let mut fires: Vec<DateTime<Utc>> = fired(&store, *id)
            .iter()
            .filter(|t| t.parent_task_id.is_none())
            .filter_map(|t| t.start_at)
            .collect();
        let created = fires.len();
        fires.sort();
        fires.dedup();
        assert_eq!(fires.len(), created, "one fire per fire time");
        assert!(created > 10, "the schedule kept firing: {created} fires");
    }
}
