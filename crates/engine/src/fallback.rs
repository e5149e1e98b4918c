//! Which target a task's next attempt goes to: decided here and nowhere else
//! (docs/fallbacks.md draws the same table).
//!
//! A task has targets: its own provider and model (index 0), then its
//! fallbacks in order. Targets are tried forward only, and only between
//! attempts: an answer being streamed is never switched. Two moments decide:
//! - after a failed attempt ([`next`]), by the error's class;
//! - at the claim ([`at_claim`]): a target whose provider is cooling down
//!   after a 429, or was just found down, is passed over when a later target
//!   exists, so a queue does not wait on a provider known to be failing.

use crate::task::{AttemptOutcome, ErrorClass, Task, DEFAULT_FALLBACK_AFTER};

/// What a failed attempt leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Next {
    /// Another attempt on the same target, after the backoff (or Retry-After).
    Again,
    /// The next attempt goes to target `to`, at once. `warn`: the switch hides
    /// a problem someone should fix (refused credentials).
    Switch { to: usize, warn: bool },
    /// No further attempt. `why` is said after the error, when the class
    /// alone does not explain it.
    Fail { why: Option<String> },
}

/// The step after a failed attempt of `task` (its `attempts` already counts
/// it). `class` is the provider error's; a timeout is `Transient`, a failure
/// that is not the provider's has none. `fits[i]`: the prompt fits target
/// `i`'s context window (unknown windows fit); read for `ContextLength` only.
///
/// `max_attempts` counts attempts on every target: when it is used up the task
/// fails, whatever targets are left.
pub(crate) fn next(task: &Task, class: Option<ErrorClass>, retryable: bool, fits: &[bool]) -> Next {
    if task.attempts >= task.max_attempts {
        return Next::Fail { why: None };
    }
    let current = task.target_index as usize;
    let later = current + 1..task.target_count();
    let following = (!later.is_empty()).then_some(later.start);
    let switch = |to: usize| Next::Switch { to, warn: false };
    match class {
        // The provider said to wait: the next target need not.
        Some(ErrorClass::RateLimited) => following.map_or(Next::Again, switch),
        Some(ErrorClass::Auth) => following.map_or(Next::Fail { why: None }, |to| Next::Switch {
            to,
            warn: true,
        }),
        Some(ErrorClass::ContextLength) => {
            match later
                .clone()
                .find(|i| fits.get(*i).copied().unwrap_or(true))
            {
                Some(to) => switch(to),
                None if following.is_some() => Next::Fail {
                    why: Some(
                        "the prompt fits none of the fallbacks' context windows either".into(),
                    ),
                },
                None => Next::Fail { why: None },
            }
        }
        Some(ErrorClass::InvalidRequest) => Next::Fail { why: None },
        // An answer that failed the output schema: the same target again, shown
        // the errors (docs/structured-output.md).
        Some(ErrorClass::SchemaMismatch) => Next::Again,
        Some(ErrorClass::Transient | ErrorClass::Incomplete) | None if retryable => {
            let after = task.fallback_after.unwrap_or(DEFAULT_FALLBACK_AFTER) as usize;
            match following {
                Some(to) if failed_on_current_target(task) >= after => switch(to),
                _ => Next::Again,
            }
        }
        _ => Next::Fail { why: None },
    }
}

/// Attempts of the task's current run that went to its current target and
/// did not end by an interruption (which is nobody's failure), the open one
/// included. A run starts after the last attempt that ended the task.
fn failed_on_current_target(task: &Task) -> usize {
    let (provider, model) = task.target();
    task.history
        .iter()
        .rev()
        .take_while(|a| {
            !matches!(
                a.outcome,
                Some(
                    AttemptOutcome::Failed | AttemptOutcome::Cancelled | AttemptOutcome::Completed
                )
            )
        })
        .filter(|a| {
            a.outcome != Some(AttemptOutcome::Interrupted)
                && a.provider.as_deref() == Some(provider)
                && a.model.as_deref() == Some(model)
        })
        .count()
}

/// The target a queued task is claimed for: its current one, or a later one
/// when `passed_over` says the current provider is cooling down or down (and
/// why). The last target is never passed over: a task with nowhere else to go
/// waits for it as one without fallbacks does.
pub(crate) fn at_claim(
    task: &Task,
    mut passed_over: impl FnMut(&str) -> Option<ErrorClass>,
) -> (usize, Option<ErrorClass>) {
    let mut index = task.target_index as usize;
    let mut why = None;
    while index + 1 < task.target_count() {
        let Some((provider, _)) = task.target_at(index) else {
            break;
        };
        match passed_over(provider) {
            Some(class) => {
                why = Some(class);
                index += 1;
            }
            None => break,
        }
    }
    (index, why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::{Attempt, Target};

    /// A task on `a:m` with fallbacks `b:m` and `c:m`, its `n`-th attempt on
    /// target `at` just failed (earlier ones on the same target failed too).
    fn failed(at: u32, on_this_target: u32) -> Task {
        let mut task = Task {
            fallbacks: vec![
                Target {
                    provider: "b".into(),
                    model: Some("m".into()),
                },
                Target {
                    provider: "c".into(),
                    model: Some("m".into()),
                },
            ],
            target_index: at,
            max_attempts: 10,
            ..Task::sample("p")
        };
        task.llm_provider = "a".into();
        task.llm_model = "m".into();
        let (p, m) = {
            let (p, m) = task.target();
            (p.to_string(), m.to_string())
        };
        for i in 0..on_this_target {
            let mut a = Attempt::started(i + 1, chrono::Utc::now());
            a.provider = Some(p.clone());
            a.model = Some(m.clone());
            if i + 1 < on_this_target {
                a.outcome = Some(AttemptOutcome::Retrying);
            }
            task.history.push(a);
        }
        task.attempts = on_this_target;
        task
    }

    #[test]
    fn each_error_class_picks_its_documented_next_target() {
        use ErrorClass::*;
        let switch = |to| Next::Switch { to, warn: false };
        let fail = Next::Fail { why: None };
        /// (class, retryable, fits, on target, attempts on it, expected)
        type Case = (Option<ErrorClass>, bool, Vec<bool>, u32, u32, Next);
        let cases: Vec<Case> = vec![
            (Some(RateLimited), true, vec![], 0, 1, switch(1)),
            (Some(RateLimited), true, vec![], 2, 1, Next::Again),
            (Some(Transient), true, vec![], 0, 1, switch(1)),
            (Some(Transient), true, vec![], 2, 1, Next::Again),
            (Some(Incomplete), true, vec![], 1, 1, switch(2)),
            (None, true, vec![], 0, 1, switch(1)),
            (
                Some(Auth),
                false,
                vec![],
                0,
                1,
                Next::Switch { to: 1, warn: true },
            ),
            (Some(Auth), false, vec![], 2, 1, fail.clone()),
            (
                Some(ContextLength),
                false,
                vec![false, true, true],
                0,
                1,
                switch(1),
            ),
            (
                Some(ContextLength),
                false,
                vec![false, false, true],
                0,
                1,
                switch(2),
            ),
            // An unknown window may fit.
            (
                Some(ContextLength),
                false,
                vec![false, false],
                0,
                1,
                switch(2),
            ),
            (
                Some(ContextLength),
                false,
                vec![false, false, false],
                0,
                1,
                Next::Fail {
                    why: Some(
                        "the prompt fits none of the fallbacks' context windows either".into(),
                    ),
                },
            ),
            (
                Some(ContextLength),
                false,
                vec![false, false, false],
                2,
                1,
                fail.clone(),
            ),
            (Some(InvalidRequest), false, vec![], 0, 1, fail.clone()),
            (None, false, vec![], 0, 1, fail.clone()),
        ];
        for (class, retryable, fits, at, n, want) in cases {
            let task = failed(at, n);
            assert_eq!(
                next(&task, class, retryable, &fits),
                want,
                "{class:?} on target {at}"
            );
        }
    }

    #[test]
    fn transient_errors_stay_on_a_target_for_fallback_after_attempts() {
        let mut task = failed(0, 1);
        task.fallback_after = Some(2);
        let transient = Some(ErrorClass::Transient);
        assert_eq!(next(&task, transient, true, &[]), Next::Again);
        let mut task = failed(0, 2);
        task.fallback_after = Some(2);
        assert_eq!(
            next(&task, transient, true, &[]),
            Next::Switch { to: 1, warn: false }
        );
        // An interrupted attempt is not a failure of its target.
        let mut task = failed(0, 2);
        task.fallback_after = Some(2);
        task.history[0].outcome = Some(AttemptOutcome::Interrupted);
        assert_eq!(next(&task, transient, true, &[]), Next::Again);
    }

    #[test]
    fn no_attempt_is_left_after_max_attempts_whatever_targets_remain() {
        for class in [
            ErrorClass::RateLimited,
            ErrorClass::Transient,
            ErrorClass::Auth,
            ErrorClass::ContextLength,
        ] {
            let mut task = failed(0, 1);
            task.max_attempts = 1;
            assert_eq!(
                next(&task, Some(class), true, &[]),
                Next::Fail { why: None }
            );
        }
    }

    #[test]
    fn a_claim_passes_over_cooling_targets_but_never_the_last() {
        let task = failed(0, 0);
        let down = |names: &'static [&'static str]| {
            move |p: &str| names.contains(&p).then_some(ErrorClass::RateLimited)
        };
        assert_eq!(at_claim(&task, down(&[])), (0, None));
        assert_eq!(
            at_claim(&task, down(&["a"])),
            (1, Some(ErrorClass::RateLimited))
        );
        assert_eq!(
            at_claim(&task, down(&["a", "b", "c"])),
            (2, Some(ErrorClass::RateLimited))
        );
        let plain = Task::sample("no fallbacks");
        assert_eq!(at_claim(&plain, down(&["mock"])), (0, None));
    }
}
