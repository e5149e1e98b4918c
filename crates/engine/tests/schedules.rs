//! Recurring schedules on a controlled clock: tokio's paused time drives both
//! the engine's timers and its wall clock (`Clock::tokio_at`), so months pass in
//! moments and every fire instant is exact.

mod common;

use baton_engine::{
    Clock, Engine, Event, EventKind, MissedPolicy, NewSchedule, NewTask, OverlapPolicy, Schedule,
    ScheduleEvent, ScheduleId, SkipReason, Task, TaskError, TaskState, CATCH_UP_LIMIT,
};
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use common::*;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// Waits in these tests span fire times up to a day apart; under the paused
/// clock a day passes in moments, and only a bug reaches this.
const DAYS: Duration = Duration::from_secs(3 * 24 * 3600);

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

async fn engine_at(start: &str) -> TestEngine {
    let wall = utc(start);
    started_with(move |c| c.clock = Clock::tokio_at(wall)).await
}

fn schedule(name: &str, cron: &str, tz: &str, model: &str) -> NewSchedule {
    let mut s = NewSchedule::new(name, cron, task(&format!("{name} prompt"), model));
    s.timezone = Some(tz.into());
    s
}

/// The next task a schedule's fire creates.
async fn next_created(rx: &mut baton_engine::Subscription, schedule: ScheduleId) -> Arc<Task> {
    tokio::time::timeout(DAYS, async {
        loop {
            if let Event {
                kind: EventKind::State {
                    from: None, task, ..
                },
                ..
            } = rx.recv().await.expect("event stream ended or lagged")
            {
                if task.schedule_id == Some(schedule) && task.parent_task_id.is_none() {
                    return task;
                }
            }
        }
    })
    .await
    .expect("the schedule never fired")
}

/// Waits until a saved schedule satisfies `want`.
async fn schedule_until(
    rx: &mut broadcast::Receiver<ScheduleEvent>,
    want: impl Fn(&Schedule) -> bool,
) -> Schedule {
    tokio::time::timeout(DAYS, async {
        loop {
            let event = rx.recv().await.expect("schedule events ended or lagged");
            if let Some(s) = event.schedule.filter(|s| want(s)) {
                return (*s).clone();
            }
        }
    })
    .await
    .expect("the schedule never reached the wanted state")
}

/// 02:30 local on `day`, as a person expects it: the first 02:30 when the hour
/// repeats, the first instant after the gap when it does not exist.
fn half_past_two(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    let at = |h, m| tz.with_ymd_and_hms(day.year(), day.month(), day.day(), h, m, 0);
    match at(2, 30) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t,
        chrono::LocalResult::None => at(3, 0).single().unwrap(),
    }
    .with_timezone(&Utc)
}

#[tokio::test(start_paused = true)]
async fn a_daily_schedule_fires_at_local_time_in_two_zones_across_both_dst_changes() {
    // 1 March to 3 November 2026 spans both changes in both zones: New York
    // springs forward on 8 March and falls back on 1 November, Paris on 29 March
    // and 25 October.
    let t = engine_at("2026-03-01T00:00:00Z").await;
    let mut rx = t.engine.subscribe();
    let zones = ["Europe/Paris", "America/New_York"];
    let mut ids = Vec::new();
    for zone in zones {
        let s = t
            .engine
            .add_schedule(schedule(zone, "30 2 * * *", zone, "echo"))
            .await
            .unwrap();
        ids.push(s.id);
    }
    let first = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    let days: Vec<NaiveDate> = first.iter_days().take(247).collect();
    let mut fired: Vec<Vec<DateTime<Utc>>> = vec![Vec::new(), Vec::new()];
    while fired.iter().map(Vec::len).sum::<usize>() < 2 * days.len() {
        let task = tokio::time::timeout(DAYS, async {
            loop {
                if let Event {
                    kind:
                        EventKind::State {
                            from: None, task, ..
                        },
                    ..
                } = rx.recv().await.unwrap()
                {
                    return task;
                }
            }
        })
        .await
        .expect("a fire is missing");
        let which = ids
            .iter()
            .position(|id| Some(*id) == task.schedule_id)
            .unwrap();
        // Fired on time, not caught up later: created at its fire instant.
        assert_eq!(Some(task.created_at), task.start_at, "{}", zones[which]);
        fired[which].push(task.start_at.unwrap());
    }
    for (which, zone) in zones.iter().enumerate() {
        let tz: Tz = zone.parse().unwrap();
        let expected: Vec<DateTime<Utc>> = days.iter().map(|d| half_past_two(tz, *d)).collect();
        assert_eq!(fired[which], expected, "{zone}");
    }
    // Spot checks that the oracle itself is right: UTC offsets change by an hour.
    assert_eq!(fired[0][27], utc("2026-03-28T01:30:00Z")); // Paris, winter (+1)
    assert_eq!(fired[0][28], utc("2026-03-29T01:00:00Z")); // 03:00 CEST: the gap
    assert_eq!(fired[0][29], utc("2026-03-30T00:30:00Z")); // summer (+2)
    assert_eq!(fired[1][6], utc("2026-03-07T07:30:00Z")); // New York, EST (−5)
    assert_eq!(fired[1][7], utc("2026-03-08T07:00:00Z")); // 03:00 EDT: the gap
    assert_eq!(fired[0][238], utc("2026-10-25T00:30:00Z")); // the first of two 02:30s, CEST
    assert_eq!(fired[0][239], utc("2026-10-26T01:30:00Z")); // winter again (+1)
    assert_eq!(fired[1][245], utc("2026-11-01T07:30:00Z")); // New York repeats 01:00–02:00, not 02:30
    t.engine.shutdown().await;
}

/// Adds an hourly schedule at 10:30, stops the engine for three days (72 fire
/// times pass), and opens it again on the same file and clock.
async fn three_days_closed(
    missed: MissedPolicy,
    max_lateness: Option<Duration>,
) -> (TestEngine, Schedule) {
    let start = utc("2026-06-01T10:30:00Z");
    let t = engine_at("2026-06-01T10:30:00Z").await;
    let mut new = schedule("hourly", "0 * * * *", "UTC", "echo");
    new.missed = missed;
    new.max_lateness = max_lateness;
    let s = t.engine.add_schedule(new).await.unwrap();
    assert_eq!(s.next_fire_at, Some(utc("2026-06-01T11:00:00Z")));
    t.engine.shutdown().await;

    tokio::time::advance(Duration::from_secs(3 * 24 * 3600)).await;
    let engine = Engine::open(t.config.clone()).await.unwrap();
    assert_eq!(engine.now(), start + chrono::Duration::days(3));
    let mut schedules = engine.subscribe_schedules();
    engine.start().await;
    // The catch-up is one fire: wait for it to be stored.
    let after = schedule_until(&mut schedules, |s| {
        s.next_fire_at == Some(utc("2026-06-04T11:00:00Z"))
    })
    .await;
    idle(&engine).await;
    (
        TestEngine {
            dir: t.dir,
            engine,
            config: t.config,
        },
        after,
    )
}

async fn created_by(engine: &Engine, id: ScheduleId) -> Vec<Task> {
    let mut tasks = engine.schedule_tasks(id, 1000).await.unwrap();
    tasks.reverse();
    tasks
}

#[tokio::test(start_paused = true)]
async fn missed_skip_records_every_fire_of_a_three_day_gap_and_starts_none() {
    let (t, s) = three_days_closed(MissedPolicy::Skip, None).await;
    assert!(created_by(&t.engine, s.id).await.is_empty());
    assert_eq!(s.skipped_total, 72);
    assert_eq!(s.skipped.len(), 1);
    let group = &s.skipped[0];
    assert_eq!((group.reason, group.count), (SkipReason::Missed, 72));
    assert_eq!(group.first, utc("2026-06-01T11:00:00Z"));
    assert_eq!(group.last, utc("2026-06-04T10:00:00Z"));
    assert_eq!(
        group.message,
        "72 runs skipped while Baton was closed or asleep (missed: skip)"
    );
    t.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn missed_once_starts_the_latest_missed_fire_and_records_the_rest() {
    let (t, s) = three_days_closed(MissedPolicy::Once, None).await;
    let tasks = created_by(&t.engine, s.id).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].start_at, Some(utc("2026-06-04T10:00:00Z")));
    assert_eq!(tasks[0].status, TaskState::Completed);
    assert_eq!(s.skipped_total, 71);
    assert_eq!(s.skipped[0].reason, SkipReason::Missed);
    assert_eq!(s.fires, 1);
    t.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn missed_all_starts_missed_fires_up_to_the_cap_and_records_the_rest() {
    let (t, s) = three_days_closed(MissedPolicy::All, None).await;
    let tasks = created_by(&t.engine, s.id).await;
    assert_eq!(tasks.len(), CATCH_UP_LIMIT);
    let times: Vec<_> = tasks.iter().map(|t| t.start_at.unwrap()).collect();
    // The most recent 24, oldest first: 11:00 on the 3rd to 10:00 on the 4th.
    assert_eq!(times.first(), Some(&utc("2026-06-03T11:00:00Z")));
    assert_eq!(times.last(), Some(&utc("2026-06-04T10:00:00Z")));
    assert!(tasks.iter().all(|t| t.status == TaskState::Completed));
    assert_eq!(s.skipped_total, 72 - CATCH_UP_LIMIT as u64);
    assert_eq!(s.skipped[0].reason, SkipReason::CatchUpLimit);
    t.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn missed_fires_older_than_the_maximum_lateness_are_skipped_as_too_late() {
    let (t, s) = three_days_closed(MissedPolicy::All, Some(Duration::from_secs(5 * 3600))).await;
    // Within five hours of 10:30 on the 4th: 06:00 to 10:00.
    let tasks = created_by(&t.engine, s.id).await;
    let times: Vec<_> = tasks.iter().map(|t| t.start_at.unwrap()).collect();
    assert_eq!(
        times,
        ["06", "07", "08", "09", "10"]
            .map(|h| utc(&format!("2026-06-04T{h}:00:00Z")))
            .to_vec()
    );
    assert_eq!(s.skipped.len(), 1);
    assert_eq!(
        (s.skipped[0].reason, s.skipped[0].count),
        (SkipReason::TooLate, 67)
    );
    t.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_wall_clock_jump_while_running_is_caught_up_like_a_closed_app() {
    // The machine sleeps for three days with the engine running: timers are
    // late, and the first wake-up sees the missed fire times at once.
    let t = engine_at("2026-06-01T10:30:00Z").await;
    let mut new = schedule("hourly", "0 * * * *", "UTC", "echo");
    new.missed = MissedPolicy::Once;
    let s = t.engine.add_schedule(new).await.unwrap();
    let mut rx = t.engine.subscribe();
    let mut schedules = t.engine.subscribe_schedules();
    tokio::time::advance(Duration::from_secs(3 * 24 * 3600)).await;
    let task = next_created(&mut rx, s.id).await;
    assert_eq!(task.start_at, Some(utc("2026-06-04T10:00:00Z")));
    let after = schedule_until(&mut schedules, |x| x.fires == 1).await;
    assert_eq!(after.skipped_total, 71);
    assert_eq!(after.next_fire_at, Some(utc("2026-06-04T11:00:00Z")));
    t.engine.shutdown().await;
}

/// An every-minute schedule whose fires take 150 s (mock `sleep`), so the fire
/// at minute 2 finds the fire from minute 1 still going.
async fn overlapping(overlap: OverlapPolicy) -> (TestEngine, Schedule, baton_engine::Subscription) {
    let t = engine_at("2026-06-01T10:00:30Z").await;
    let mut new = schedule("minutely", "* * * * *", "UTC", "sleep=150000");
    new.overlap = overlap;
    let rx = t.engine.subscribe();
    let s = t.engine.add_schedule(new).await.unwrap();
    (t, s, rx)
}

#[tokio::test(start_paused = true)]
async fn overlap_skip_skips_a_fire_while_the_previous_fire_is_active() {
    let (t, s, mut rx) = overlapping(OverlapPolicy::Skip).await;
    let first = next_created(&mut rx, s.id).await;
    assert_eq!(first.start_at, Some(utc("2026-06-01T10:01:00Z")));
    // 10:02 and 10:03 are skipped (the fire ends at 10:03:30); 10:04 fires.
    let second = next_created(&mut rx, s.id).await;
    assert_eq!(second.start_at, Some(utc("2026-06-01T10:04:00Z")));
    let stored = t.engine.schedule(s.id).await.unwrap();
    assert_eq!(stored.skipped_total, 2);
    assert!(stored
        .skipped
        .iter()
        .all(|g| g.reason == SkipReason::Overlap));
    assert_eq!(
        t.engine.get(first.id).await.unwrap().status,
        TaskState::Completed
    );
    t.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn overlap_queue_starts_the_next_fire_when_the_active_one_ends() {
    let (t, s, mut rx) = overlapping(OverlapPolicy::Queue).await;
    let first = next_created(&mut rx, s.id).await;
    let second = next_created(&mut rx, s.id).await;
    // The 10:02 fire waited for the first fire, which ended at 10:03:30.
    assert_eq!(second.start_at, Some(utc("2026-06-01T10:02:00Z")));
    assert_eq!(second.created_at, utc("2026-06-01T10:03:30Z"));
    let done = t.engine.get(first.id).await.unwrap();
    assert_eq!(done.finished_at, Some(second.created_at));
    assert_eq!(t.engine.schedule(s.id).await.unwrap().skipped_total, 0);
    t.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn overlap_cancel_cancels_the_active_fire_and_starts_the_new_one() {
    let (t, s, mut rx) = overlapping(OverlapPolicy::Cancel).await;
    let first = next_created(&mut rx, s.id).await;
    reach(&mut rx, first.id, TaskState::Running).await;
    let second = next_created(&mut rx, s.id).await;
    assert_eq!(second.start_at, Some(utc("2026-06-01T10:02:00Z")));
    let cancelled = t.engine.get(first.id).await.unwrap();
    assert_eq!(cancelled.status, TaskState::Cancelled);
    assert_eq!(
        cancelled.cancel_reason.as_deref(),
        Some("replaced by the next run of schedule 'minutely'")
    );
    assert_eq!(cancelled.finished_at, Some(second.created_at));
    t.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_paused_schedule_does_not_fire_and_resumes_from_the_next_time_after_now() {
    let t = engine_at("2026-06-01T10:30:00Z").await;
    let s = t
        .engine
        .add_schedule(schedule("hourly", "0 * * * *", "UTC", "echo"))
        .await
        .unwrap();
    let paused = t.engine.pause_schedule(s.id).await.unwrap();
    assert!(!paused.enabled);
    assert_eq!(paused.next_fire_at, None);
    tokio::time::advance(Duration::from_secs(5 * 3600)).await;
    idle(&t.engine).await;
    let resumed = t.engine.resume_schedule(s.id).await.unwrap();
    assert!(resumed.enabled);
    assert_eq!(resumed.next_fire_at, Some(utc("2026-06-01T16:00:00Z")));
    // Paused time is not "missed": nothing ran and nothing is recorded as skipped.
    assert!(created_by(&t.engine, s.id).await.is_empty());
    assert_eq!(resumed.skipped_total, 0);
    let mut rx = t.engine.subscribe();
    let task = next_created(&mut rx, s.id).await;
    assert_eq!(task.start_at, Some(utc("2026-06-01T16:00:00Z")));
    t.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn schedules_survive_a_restart_and_fire_afterwards() {
    let t = engine_at("2026-06-01T10:30:00Z").await;
    let mut new = schedule("daily", "0 9 * * MON-FRI", "Europe/Paris", "echo");
    new.overlap = OverlapPolicy::Queue;
    new.missed = MissedPolicy::Skip;
    new.follow_ups = vec!["Translate it".into()];
    let s = t.engine.add_schedule(new).await.unwrap();
    t.engine.shutdown().await;

    let engine = Engine::open(t.config.clone()).await.unwrap();
    let stored = engine.find_schedule("DAILY").await.unwrap();
    assert_eq!(stored, s);
    assert_eq!(stored.next_fire_at, Some(utc("2026-06-02T07:00:00Z")));
    let mut rx = engine.subscribe();
    engine.start().await;
    let task = next_created(&mut rx, s.id).await;
    assert_eq!(task.start_at, Some(utc("2026-06-02T07:00:00Z")));
    // The follow-up is chained onto the fired task and runs on its output.
    idle(&engine).await;
    let tasks = created_by(&engine, s.id).await;
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[1].parent_task_id, Some(tasks[0].id));
    assert_eq!(
        tasks[1].output.as_deref(),
        Some("echo: echo: daily prompt\n\nTranslate it")
    );
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn fire_now_starts_a_fire_at_once_and_keeps_the_next_fire_time() {
    let t = engine_at("2026-06-01T10:30:00Z").await;
    let s = t
        .engine
        .add_schedule(schedule("hourly", "0 * * * *", "UTC", "echo"))
        .await
        .unwrap();
    let mut rx = t.engine.subscribe();
    let (after, tasks) = t.engine.fire_schedule_now(s.id).await.unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].schedule_id, Some(s.id));
    assert_eq!(after.fires, 1);
    assert_eq!(after.next_fire_at, s.next_fire_at);
    let done = reach(&mut rx, tasks[0].id, TaskState::Completed).await;
    assert_eq!(done.output.as_deref(), Some("echo: hourly prompt"));
    assert_eq!(done.started_at, Some(utc("2026-06-01T10:30:00Z")));
    t.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_edit_takes_effect_at_once() {
    let t = engine_at("2026-06-01T10:30:00Z").await;
    let s = t
        .engine
        .add_schedule(schedule("report", "0 9 * * *", "UTC", "echo"))
        .await
        .unwrap();
    assert_eq!(s.next_fire_at, Some(utc("2026-06-02T09:00:00Z")));
    let mut rx = t.engine.subscribe();
    let mut edit = schedule("report", "*/5 * * * *", "UTC", "echo");
    edit.task.prompt = "edited".into();
    let edited = t.engine.update_schedule(s.id, edit).await.unwrap();
    assert_eq!(edited.next_fire_at, Some(utc("2026-06-01T10:35:00Z")));
    assert_eq!(edited.created_at, s.created_at);
    let task = next_created(&mut rx, s.id).await;
    assert_eq!(task.created_at, utc("2026-06-01T10:35:00Z"));
    assert_eq!(task.prompt, "edited");
    t.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn bad_schedules_are_refused_with_the_field_named_and_nothing_stored() {
    let t = engine_at("2026-06-01T10:30:00Z").await;
    let cases: Vec<(NewSchedule, &str, &str)> = vec![
        (
            schedule("a", "0 25 * * *", "UTC", "echo"),
            "cron",
            "is invalid",
        ),
        (
            schedule("a", "0 9 * * *", "Europe/Atlantis", "echo"),
            "timezone",
            "not a known IANA time zone",
        ),
        (
            schedule("a", "0 0 31 2 *", "UTC", "echo"),
            "cron",
            "never fires",
        ),
        (
            schedule(" ", "0 9 * * *", "UTC", "echo"),
            "name",
            "name is empty",
        ),
        (schedule("a", "0 9 * * *", "UTC", "fail=x"), "model", ""),
        (
            NewSchedule {
                task: NewTask {
                    start_at: Some(utc("2026-07-01T00:00:00Z")),
                    ..task("p", "echo")
                },
                ..schedule("a", "0 9 * * *", "UTC", "echo")
            },
            "start_at",
            "when it fires",
        ),
        (
            NewSchedule {
                follow_ups: vec!["  ".into()],
                ..schedule("a", "0 9 * * *", "UTC", "echo")
            },
            "follow_ups",
            "follow-up 1",
        ),
    ];
    for (new, field, words) in cases {
        match t.engine.add_schedule(new).await {
            Err(TaskError::Invalid { field: f, message }) => {
                assert_eq!(f, field, "{message}");
                assert!(message.contains(words), "{message}");
            }
            other => panic!("expected an invalid {field}, got {other:?}"),
        }
    }
    assert!(t.engine.schedules().await.unwrap().is_empty());

    t.engine
        .add_schedule(schedule("daily", "0 9 * * *", "UTC", "echo"))
        .await
        .unwrap();
    let err = t
        .engine
        .add_schedule(schedule("Daily", "0 10 * * *", "UTC", "echo"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("'Daily' already exists"), "{err}");
    assert_eq!(t.engine.schedules().await.unwrap().len(), 1);
    let missing = t.engine.find_schedule("weekly").await.unwrap_err();
    assert_eq!(missing.to_string(), "no schedule is named 'weekly'");
    t.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn export_and_import_carry_schedules_and_never_overwrite_one() {
    let t = engine_at("2026-06-01T10:30:00Z").await;
    let s = t
        .engine
        .add_schedule(schedule("daily", "0 9 * * *", "Asia/Tokyo", "echo"))
        .await
        .unwrap();
    t.engine.fire_schedule_now(s.id).await.unwrap();
    idle(&t.engine).await;
    let file = serde_json::to_string(&t.engine.export().await.unwrap()).unwrap();
    assert!(file.contains("\"format_version\":3"));

    let other = engine_at("2026-06-01T10:30:00Z").await;
    let report = other.engine.import(&file).await.unwrap();
    assert_eq!((report.imported, report.schedules_imported), (1, 1));
    let imported = other.engine.find_schedule("daily").await.unwrap();
    assert_eq!(imported.timezone, "Asia/Tokyo");
    assert_eq!(imported.next_fire_at, s.next_fire_at);
    let tasks = created_by(&other.engine, s.id).await;
    assert_eq!(tasks.len(), 1);

    // Again: the schedule is reported, not overwritten.
    let again = other.engine.import(&file).await.unwrap();
    assert_eq!(again.schedules_imported, 0);
    assert_eq!(again.skipped_schedules, vec!["daily".to_string()]);

    // A bad schedule record fails the whole file.
    let mut value: serde_json::Value = serde_json::from_str(&file).unwrap();
    value["schedules"][0]["cron"] = "not cron".into();
    value["schedules"][0]["name"] = "renamed".into();
    let fresh = engine_at("2026-06-01T10:30:00Z").await;
    let err = fresh.engine.import(&value.to_string()).await.unwrap_err();
    assert!(
        err.to_string().contains("in schedules, schedule 'renamed'"),
        "{err}"
    );
    assert!(fresh.engine.schedules().await.unwrap().is_empty());
    assert!(fresh
        .engine
        .list(Default::default())
        .await
        .unwrap()
        .is_empty());
    for e in [t, other, fresh] {
        e.engine.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_removed_schedule_stops_firing_and_its_tasks_stay() {
    let t = engine_at("2026-06-01T10:30:00Z").await;
    let s = t
        .engine
        .add_schedule(schedule("secondly", "* * * * * *", "UTC", "echo"))
        .await
        .unwrap();
    let mut rx = t.engine.subscribe();
    let fired = next_created(&mut rx, s.id).await;
    let removed = t.engine.remove_schedule(s.id).await.unwrap();
    assert_eq!(removed.id, s.id);
    assert!(t.engine.schedules().await.unwrap().is_empty());
    idle(&t.engine).await;
    let before = t.engine.list(Default::default()).await.unwrap().len();
    tokio::time::advance(Duration::from_secs(3600)).await;
    idle(&t.engine).await;
    assert_eq!(
        t.engine.list(Default::default()).await.unwrap().len(),
        before
    );
    assert_eq!(
        t.engine.get(fired.id).await.unwrap().schedule_id,
        Some(s.id)
    );
    assert!(matches!(
        t.engine.pause_schedule(s.id).await,
        Err(TaskError::ScheduleNotFound(_))
    ));
    t.engine.shutdown().await;
}
