//! Budgets: caps that a burst of tasks can never pass, reset at midnight in
//! their zone, and refusals of bad input that store nothing.
//!
//! The mock provider under a configured name reports usage (about four bytes a
//! token) and gets prices; a paused tokio clock puts the engine five minutes
//! before midnight in Paris, so a held task's wait for the reset costs no time.

mod common;

use baton_engine::{
    BudgetPeriod, BudgetUnit, Clock, EventKind, HoldReason, NewBudget, NewSchedule, NewTask,
    Prices, ProviderKind, ProviderSettings, Task, TaskError, TaskState,
};
use chrono::{DateTime, Utc};
use common::*;
use std::collections::HashMap;

const BEFORE_MIDNIGHT: &str = "2026-12-04T22:55:00Z"; // 23:55 in Paris
const MIDNIGHT: &str = "2026-12-04T23:00:00Z";

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn daily_usd(name: &str, amount: f64) -> NewBudget {
    NewBudget {
        name: name.into(),
        period: BudgetPeriod::Daily,
        amount,
        unit: BudgetUnit::Usd,
        provider: None,
        schedule: None,
        timezone: Some("Europe/Paris".into()),
    }
}

async fn mock_named(t: &TestEngine, name: &str, prices: Option<Prices>) {
    let mut s = ProviderSettings::new(name, ProviderKind::Mock, "");
    s.prices = prices;
    t.engine.save_provider(s, None).await.unwrap();
}

/// A 400-byte prompt: the mock reports ~100 prompt and ~102 completion tokens.
fn prompt(i: usize) -> String {
    format!("{i:03} {}", "x".repeat(396))
}

/// What 256 tasks submitted at once did: every task as it ended, and the
/// hold and warning events seen on the way.
struct Run {
    tasks: Vec<Task>,
    budget_holds: Vec<String>,
    warnings: Vec<String>,
}

async fn run_256(t: &TestEngine, provider: &str) -> Run {
    let mut rx = t.engine.subscribe();
    let mut ids = Vec::new();
    for i in 0..256 {
        let task = t
            .engine
            .submit(NewTask {
                provider: Some(provider.into()),
                max_tokens: Some(150),
                ..NewTask::new(prompt(i))
            })
            .await
            .unwrap();
        ids.push(task.id);
    }
    let mut ended: HashMap<_, Task> = HashMap::new();
    let (mut budget_holds, mut warnings) = (Vec::new(), Vec::new());
    tokio::time::timeout(PATIENCE, async {
        while ended.len() < ids.len() {
            let event = rx.recv().await.expect("event stream ended or lagged");
            match event.kind {
                EventKind::State { to, task, .. } if to.is_terminal() => {
                    ended.insert(task.id, (*task).clone());
                }
                EventKind::Held {
                    reason: HoldReason::Budget,
                    message,
                    ..
                } => budget_holds.push(message),
                EventKind::BudgetWarning { message, .. } => warnings.push(message),
                _ => {}
            }
        }
    })
    .await
    .expect("every task ends");
    Run {
        tasks: ids.iter().map(|id| ended.remove(id).unwrap()).collect(),
        budget_holds,
        warnings,
    }
}

fn cost(tasks: &[&Task]) -> f64 {
    tasks.iter().map(|t| t.cost_usd.unwrap().0).sum()
}

#[tokio::test(start_paused = true)]
async fn tasks_at_once_never_spend_past_a_daily_cap_and_the_held_ones_run_after_the_reset() {
    let t = started_with(|c| {
        c.clock = Clock::tokio_at(utc(BEFORE_MIDNIGHT));
        c.workers = 64;
    })
    .await;
    // ~$0.003 a task spent, ~$0.009 its worst case: 256 tasks cost ~$0.78.
    mock_named(
        &t,
        "priced",
        Some(Prices {
            input_per_mtok: 15.0,
            output_per_mtok: 15.0,
        }),
    )
    .await;
    t.engine
        .set_budget(daily_usd("nightly", 0.50))
        .await
        .unwrap();

    let run = run_256(&t, "priced").await;
    assert!(run.tasks.iter().all(|t| t.status == TaskState::Completed));
    let midnight = utc(MIDNIGHT);
    let (before, after): (Vec<&Task>, Vec<&Task>) = run
        .tasks
        .iter()
        .partition(|t| t.finished_at.unwrap() < midnight);
    let (spent_before, spent_after) = (cost(&before), cost(&after));
    assert!(
        spent_before <= 0.50,
        "spent ${spent_before} before midnight"
    );
    assert!(spent_after <= 0.50, "spent ${spent_after} after midnight");
    // The cap was used, not just respected: within one worst case of it.
    assert!(spent_before > 0.50 - 0.01, "spent only ${spent_before}");
    assert!(!after.is_empty(), "some tasks waited for the reset");
    assert!(
        after.iter().all(|t| t.started_at.unwrap() >= midnight),
        "a held task started only after the reset"
    );
    assert!(run.budget_holds.iter().all(|m| m
        == "waiting for budget 'nightly': the daily cap of $0.50 resets at 00:00 Europe/Paris"));
    assert!(!run.budget_holds.is_empty());
    // One warning per period that reached 80%.
    assert_eq!(
        run.warnings.len(),
        1 + usize::from(spent_after >= 0.4),
        "{:?}",
        run.warnings
    );
    assert!(run.warnings[0].starts_with("budget 'nightly' has used $0.4"));

    // The list shows the new day's spending against the cap, nothing reserved.
    let budgets = t.engine.budgets().await.unwrap();
    assert_eq!(budgets.len(), 1);
    assert!((budgets[0].spent.0 - spent_after).abs() < 1e-9);
    assert_eq!(budgets[0].reserved.0, 0.0);
    assert_eq!(budgets[0].period_start, midnight);
}

#[tokio::test(start_paused = true)]
async fn a_provider_without_prices_is_outside_money_caps() {
    let t = started_with(|c| {
        c.clock = Clock::tokio_at(utc(BEFORE_MIDNIGHT));
        c.workers = 64;
    })
    .await;
    mock_named(&t, "local", None).await;
    t.engine
        .set_budget(daily_usd("nightly", 0.50))
        .await
        .unwrap();
    let run = run_256(&t, "local").await;
    assert!(run.budget_holds.is_empty(), "{:?}", run.budget_holds);
    let midnight = utc(MIDNIGHT);
    assert!(run
        .tasks
        .iter()
        .all(|t| t.status == TaskState::Completed && t.finished_at.unwrap() < midnight));
}

#[tokio::test(start_paused = true)]
async fn a_token_cap_on_one_provider_holds_only_that_providers_tasks() {
    let t = started_with(|c| c.clock = Clock::tokio_at(utc(BEFORE_MIDNIGHT))).await;
    mock_named(&t, "capped", None).await;
    t.engine
        .set_budget(NewBudget {
            provider: Some("capped".into()),
            unit: BudgetUnit::Tokens,
            // One task's worst case: 400 + 64 prompt + 150 completion tokens.
            amount: 700.0,
            ..daily_usd("capped-tokens", 0.0)
        })
        .await
        .unwrap();
    let mut rx = t.engine.subscribe();
    let on = |provider: &str, i| NewTask {
        provider: Some(provider.into()),
        max_tokens: Some(150),
        ..NewTask::new(prompt(i))
    };
    let first = t.engine.submit(on("capped", 0)).await.unwrap();
    let first = reach(&mut rx, first.id, TaskState::Completed).await;
    // ~202 tokens spent: a second worst case (614) no longer fits today.
    let second = t.engine.submit(on("capped", 1)).await.unwrap();
    let other = t.engine.submit(on("mock", 2)).await.unwrap();
    let other = reach(&mut rx, other.id, TaskState::Completed).await;
    assert!(other.finished_at.unwrap() < utc(MIDNIGHT));
    let second = reach(&mut rx, second.id, TaskState::Completed).await;
    assert!(second.started_at.unwrap() >= utc(MIDNIGHT));
    let spent = t.engine.budgets().await.unwrap()[0].spent.0;
    let tokens = |t: &Task| (t.prompt_tokens.unwrap() + t.completion_tokens.unwrap()) as f64;
    assert_eq!(spent, tokens(&second), "the new day counts only the second");
    assert!(tokens(&first) < 700.0);
}

#[tokio::test]
async fn bad_budgets_are_refused_naming_the_field_and_store_nothing() {
    let t = started_with(|_| {}).await;
    t.engine
        .add_schedule(NewSchedule::new("nightly", "0 3 * * *", NewTask::new("hi")))
        .await
        .unwrap();
    let cases: Vec<(NewBudget, &str, &str)> = vec![
        (daily_usd("neg", -1.0), "amount", "more than 0"),
        (daily_usd("zero", 0.0), "amount", "more than 0"),
        (daily_usd("nan", f64::NAN), "amount", "more than 0"),
        (
            NewBudget {
                unit: BudgetUnit::Tokens,
                ..daily_usd("half", 10.5)
            },
            "amount",
            "whole number",
        ),
        (daily_usd("bad/name", 1.0), "name", "not '/'"),
        (daily_usd("", 1.0), "name", "1 to 64"),
        (
            NewBudget {
                timezone: Some("Mars/Olympus".into()),
                ..daily_usd("tz", 1.0)
            },
            "timezone",
            "'Mars/Olympus' is not a known IANA time zone",
        ),
        (
            NewBudget {
                provider: Some("nowhere".into()),
                ..daily_usd("p", 1.0)
            },
            "provider",
            "no provider is named 'nowhere'",
        ),
        (
            NewBudget {
                schedule: Some("weekly".into()),
                ..daily_usd("s", 1.0)
            },
            "schedule",
            "no schedule is named 'weekly'",
        ),
        (
            NewBudget {
                provider: Some("mock".into()),
                schedule: Some("nightly".into()),
                ..daily_usd("both", 1.0)
            },
            "schedule",
            "not both",
        ),
    ];
    for (budget, field, says) in cases {
        match t.engine.set_budget(budget.clone()).await {
            Err(TaskError::Invalid { field: f, message }) => {
                assert_eq!(f, field, "{budget:?}");
                assert!(message.contains(says), "{budget:?}: {message}");
            }
            other => panic!("{budget:?} was not refused: {other:?}"),
        }
    }
    assert!(t.engine.budgets().await.unwrap().is_empty());
    assert!(matches!(
        t.engine.remove_budget("never-set").await,
        Err(TaskError::BudgetNotFound(_))
    ));
    // A schedule's budget names it by name or id; a change keeps the spending.
    let b = NewBudget {
        schedule: Some("nightly".into()),
        ..daily_usd("sched", 1.0)
    };
    t.engine.set_budget(b.clone()).await.unwrap();
    let changed = t
        .engine
        .set_budget(NewBudget { amount: 2.0, ..b })
        .await
        .unwrap();
    assert_eq!(changed.amount.0, 2.0);
    assert_eq!(t.engine.budgets().await.unwrap().len(), 1);
    t.engine.remove_budget("sched").await.unwrap();
    assert!(t.engine.budgets().await.unwrap().is_empty());
}
