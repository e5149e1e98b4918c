//! Prompt variables, bound when a run starts, and schedules that pause
//! themselves after failed runs in a row. On a controlled clock (tokio's paused
//! time drives the engine's timers and wall clock), so days pass in moments.

mod common;

use baton_engine::{
    Clock, Event, EventKind, NewSchedule, NewTask, Schedule, ScheduleEvent, ScheduleId, Task,
    TaskError, TaskState,
};
use chrono::{DateTime, Utc};
use common::*;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

async fn total(engine: &baton_engine::Engine) -> u64 {
    let c = engine.counts().await.unwrap();
    TaskState::ALL.iter().map(|s| c.get(*s)).sum()
}

const DAYS: Duration = Duration::from_secs(10 * 24 * 3600);

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// The next task of `schedule` that reaches a terminal state.
async fn next_ended(rx: &mut baton_engine::Subscription, schedule: ScheduleId) -> Arc<Task> {
    tokio::time::timeout(DAYS, async {
        loop {
            if let Event {
                kind: EventKind::State { to, task, .. },
                ..
            } = rx.recv().await.expect("event stream ended or lagged")
            {
                if task.schedule_id == Some(schedule) && to.is_terminal() {
                    return task;
                }
            }
        }
    })
    .await
    .expect("no run of the schedule ended")
}

async fn schedule_event(
    rx: &mut broadcast::Receiver<ScheduleEvent>,
    want: impl Fn(&ScheduleEvent) -> bool,
) -> ScheduleEvent {
    tokio::time::timeout(DAYS, async {
        loop {
            let event = rx.recv().await.expect("schedule events ended or lagged");
            if want(&event) {
                return event;
            }
        }
    })
    .await
    .expect("the schedule event never came")
}

#[tokio::test(start_paused = true)]
async fn date_and_time_follow_the_schedules_zone_across_a_dst_change() {
    // 00:30 in Paris is still the day before in UTC: a date read in the wrong
    // zone would be off by one. Paris springs forward on 29 March 2026.
    let t = started_with(|c| c.clock = Clock::tokio_at(utc("2026-03-27T12:00:00Z"))).await;
    let mut rx = t.engine.subscribe();
    let mut new = NewSchedule::new(
        "morning",
        "30 0 * * *",
        task("Report for {{date}} at {{time}} ({{now}})", "echo"),
    );
    new.timezone = Some("Europe/Paris".into());
    let s = t.engine.add_schedule(new).await.unwrap();
    let mut prompts = Vec::new();
    for _ in 0..4 {
        let done = next_ended(&mut rx, s.id).await;
        assert_eq!(done.status, TaskState::Completed);
        assert_eq!(done.timezone.as_deref(), Some("Europe/Paris"));
        // The mock echoes what it was sent: the bound prompt.
        assert_eq!(
            done.output.as_deref().unwrap(),
            format!("echo: {}", done.effective_prompt.as_deref().unwrap())
        );
        prompts.push(done.effective_prompt.clone().unwrap());
    }
    assert_eq!(
        prompts,
        [
            "Report for 2026-03-28 at 00:30 (2026-03-28T00:30:00+01:00)",
            "Report for 2026-03-29 at 00:30 (2026-03-29T00:30:00+01:00)",
            "Report for 2026-03-30 at 00:30 (2026-03-30T00:30:00+02:00)",
            "Report for 2026-03-31 at 00:30 (2026-03-31T00:30:00+02:00)",
        ]
    );
    // The template keeps its variables: each run binds them again.
    let s = t.engine.schedule(s.id).await.unwrap();
    assert_eq!(
        s.template.prompt,
        "Report for {{date}} at {{time}} ({{now}})"
    );
}

#[tokio::test(start_paused = true)]
async fn a_one_off_task_reads_the_time_its_attempt_starts_in_the_engines_zone() {
    let t = started_with(|c| {
        c.clock = Clock::tokio_at(utc("2026-06-30T20:00:00Z"));
        c.local_zone = chrono_tz::Asia::Tokyo;
    })
    .await;
    let mut rx = t.engine.subscribe();
    // Created on 30 June (Tokyo: 1 July, 05:00), run a day later.
    let created = t
        .engine
        .submit(NewTask {
            start_at: Some(utc("2026-07-01T20:00:00Z")),
            ..task("Today is {{date}}, {{time}}; literal \\{{date}}", "echo")
        })
        .await
        .unwrap();
    assert_eq!(created.timezone.as_deref(), Some("Asia/Tokyo"));
    assert_eq!(created.effective_prompt, None, "bound when the run starts");
    let done = tokio::time::timeout(DAYS, async {
        loop {
            if let Event {
                kind: EventKind::State { to, task, .. },
                ..
            } = rx.recv().await.unwrap()
            {
                if task.id == created.id && to == TaskState::Completed {
                    return task;
                }
            }
        }
    })
    .await
    .expect("the task never completed");
    assert_eq!(
        done.effective_prompt.as_deref(),
        Some("Today is 2026-07-02, 05:00; literal {{date}}")
    );
    // A prompt without variables records no zone and no second prompt.
    let plain = t.engine.submit(task("no variables", "echo")).await.unwrap();
    let plain = reach(&mut rx, plain.id, TaskState::Completed).await;
    assert_eq!(
        (plain.timezone.clone(), plain.effective_prompt.clone()),
        (None, None)
    );
}

#[tokio::test(start_paused = true)]
async fn last_output_and_schedule_name_come_from_the_schedule_and_its_previous_completed_fire() {
    let t = started_with(|c| c.clock = Clock::tokio_at(utc("2026-01-01T00:00:00Z"))).await;
    let mut rx = t.engine.subscribe();
    let mut new = NewSchedule::new(
        "digest",
        "0 9 * * *",
        task("{{schedule.name}}: before [{{last_output}}]", "echo"),
    );
    new.follow_ups = vec!["then {{parent.output}} / {{last_output}}".into()];
    let s = t.engine.add_schedule(new).await.unwrap();
    t.engine.fire_schedule_now(s.id).await.unwrap();
    let mut ended = Vec::new();
    while ended.len() < 2 {
        ended.push(next_ended(&mut rx, s.id).await);
    }
    assert_eq!(ended[0].output.as_deref(), Some("echo: digest: before []"));
    assert_eq!(
        ended[1].output.as_deref(),
        Some("echo: then echo: digest: before [] / "),
        "the follow-up binds its parent's output, and the run's previous output (none yet)"
    );
    t.engine.fire_schedule_now(s.id).await.unwrap();
    let second = next_ended(&mut rx, s.id).await;
    assert_eq!(
        second.output.as_deref(),
        Some("echo: digest: before [echo: digest: before []]")
    );
    let third_follow_up = next_ended(&mut rx, s.id).await;
    assert_eq!(
        third_follow_up.output.as_deref(),
        Some("echo: then echo: digest: before [echo: digest: before []] / echo: digest: before []")
    );
}

#[tokio::test]
async fn unknown_variables_and_bad_failure_limits_are_refused_when_saved_and_nothing_is_stored() {
    let t = started_with(|_| {}).await;
    let refused = |e: TaskError, field: &str, text: &str| {
        assert!(
            matches!(&e, TaskError::Invalid { field: f, .. } if *f == field),
            "{field}: {e}"
        );
        assert!(e.to_string().contains(text), "{e}");
    };
    let e = t
        .engine
        .submit(task("Hi {{nmae}}", "echo"))
        .await
        .unwrap_err();
    refused(e, "prompt", "unknown variable {{nmae}}");
    let e = t
        .engine
        .submit(task("{{last_output}}", "echo"))
        .await
        .unwrap_err();
    refused(
        e,
        "prompt",
        "names {{last_output}}, which cannot be used here",
    );
    let e = t
        .engine
        .submit(task("open {{ and never closed", "echo"))
        .await
        .unwrap_err();
    refused(
        e,
        "prompt",
        "the '{{' at character 6 of the prompt starts no variable",
    );
    let parent = t.engine.submit(task("p", "echo")).await.unwrap();
    let e = t
        .engine
        .chain(parent.id, task("{{schedule.name}}", "echo"))
        .await
        .unwrap_err();
    refused(e, "prompt", "only a schedule's tasks");
    let mut bad_follow_up = NewSchedule::new("s1", "0 9 * * *", task("ok {{date}}", "echo"));
    bad_follow_up.follow_ups = vec!["{{parent.outptu}}".into()];
    let e = t.engine.add_schedule(bad_follow_up).await.unwrap_err();
    refused(
        e,
        "follow_ups",
        "follow-up 1: the follow-up names an unknown variable",
    );
    let mut too_many = NewSchedule::new("s2", "0 9 * * *", task("ok", "echo"));
    too_many.pause_after_failures = Some(1001);
    let e = t.engine.add_schedule(too_many).await.unwrap_err();
    refused(
        e,
        "pause_after_failures",
        "between 0 (never pause) and 1000",
    );
    assert_eq!(t.engine.schedules().await.unwrap(), Vec::<Schedule>::new());
    assert_eq!(total(&t.engine).await, 1, "only the parent is stored");
}

#[tokio::test(start_paused = true)]
async fn a_schedule_pauses_itself_after_its_limit_of_failed_fires_in_a_row() {
    let t = started_with(|c| c.clock = Clock::tokio_at(utc("2026-01-01T00:00:00Z"))).await;
    let mut rx = t.engine.subscribe();
    let mut srx = t.engine.subscribe_schedules();
    let failing = || NewTask {
        max_attempts: Some(1),
        ..task("try", "fatal")
    };
    let mut new = NewSchedule::new("flaky", "0 * * * *", failing());
    new.pause_after_failures = Some(3);
    let s = t.engine.add_schedule(new.clone()).await.unwrap();
    let id = s.id;
    let run = |n: usize| {
        let engine = t.engine.clone();
        async move {
            for _ in 0..n {
                engine.fire_schedule_now(id).await.unwrap();
            }
        }
    };
    // Two failures, then a completed run: the count starts again.
    for _ in 0..2 {
        run(1).await;
        assert_eq!(next_ended(&mut rx, s.id).await.status, TaskState::Failed);
    }
    let mut fixed = new.clone();
    fixed.task = task("try", "echo");
    t.engine.update_schedule(s.id, fixed).await.unwrap();
    run(1).await;
    assert_eq!(next_ended(&mut rx, s.id).await.status, TaskState::Completed);
    let s_now = t.engine.schedule(id).await.unwrap();
    assert_eq!((s_now.failures_in_a_row, s_now.enabled), (0, true));
    t.engine.update_schedule(s.id, new.clone()).await.unwrap();
    for _ in 0..2 {
        run(1).await;
        assert_eq!(next_ended(&mut rx, s.id).await.status, TaskState::Failed);
    }
    assert!(t.engine.schedule(id).await.unwrap().enabled);
    run(1).await;
    let last = next_ended(&mut rx, s.id).await;
    let paused = schedule_event(&mut srx, |e| e.note.is_some()).await;
    let note = paused.note.unwrap();
    assert!(
        note.starts_with("Schedule 'flaky' paused after 3 failed runs in a row; the last: "),
        "{note}"
    );
    let paused = paused.schedule.unwrap();
    assert!(!paused.enabled);
    assert_eq!(paused.next_fire_at, None);
    let why = paused.auto_paused.clone().unwrap();
    assert_eq!((why.failures, why.task_id), (3, last.id));
    // Paused: an hour of fire times passes without a run.
    let tasks_before = total(&t.engine).await;
    tokio::time::sleep(Duration::from_secs(2 * 3600)).await;
    assert_eq!(total(&t.engine).await, tasks_before);
    // Resuming clears the count and the reason.
    let resumed = t.engine.resume_schedule(s.id).await.unwrap();
    assert!(resumed.enabled);
    assert_eq!((resumed.failures_in_a_row, resumed.auto_paused), (0, None));
    // With the limit at 0 it never pauses.
    let mut never = new;
    never.pause_after_failures = Some(0);
    t.engine.update_schedule(s.id, never).await.unwrap();
    for _ in 0..4 {
        run(1).await;
        assert_eq!(next_ended(&mut rx, s.id).await.status, TaskState::Failed);
    }
    let s_now = t.engine.schedule(id).await.unwrap();
    assert_eq!((s_now.failures_in_a_row, s_now.enabled), (4, true));
}
