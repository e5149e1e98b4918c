//! Per-provider limits: concurrent requests, requests per minute, tokens per
//! minute, the cool-down a 429 imposes on the whole provider, and a lowered
//! concurrency for a provider that keeps interrupting answers while several are
//! in flight (llama.cpp's server, for one, ends a running generation when a
//! newer request preempts it).
//!
//! The dispatcher owns the limiter. Its claim (run by the writer inside the
//! claiming transaction) asks [`Limiter::admit`] about each queued task; a
//! task whose provider is at a limit is not claimed, so it stays `queued` (no
//! state-machine edge changes). An admitted task gets a [`Permit`] that the
//! executor holds for the request: dropping it frees the concurrency slot and
//! fires the limiter's `freed` notify (the dispatcher's wake-up). Windows are
//! sliding minutes on tokio's clock, so tests with a paused clock control them.
//!
//! The limiter keeps its own state: a permit holds the gates it counts
//! against, nothing else of the engine.
//!
//! A std Mutex, not a tokio one: nothing awaits while it is held, and the writer
//! calls in from a blocking thread.

use crate::task::{ErrorClass, Task, TaskId};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

const WINDOW: Duration = Duration::from_secs(60);
/// Held tasks remembered per provider so each hold is announced once; past
/// this the memory is cleared (a re-announcement is harmless).
const MAX_ANNOUNCED: usize = 100_000;
/// How long a lowered concurrency holds after the last interrupted answer.
pub(crate) const LOWERED_FOR: Duration = Duration::from_secs(5 * 60);
/// How long a provider whose attempt failed as transient is passed over by
/// tasks that have a later target (unless it answers meanwhile).
pub(crate) const DOWN_FOR: Duration = Duration::from_secs(60);

/// Tokens reserved for a task before it is sent: its prompt and system prompt
/// at about four bytes a token, plus the completion it may produce.
pub(crate) fn estimate_tokens(task: &Task) -> u64 {
    let text = task.prompt_to_send().len() + task.system.as_deref().map_or(0, str::len);
    text.div_ceil(4) as u64 + u64::from(task.max_tokens.unwrap_or(super::DEFAULT_MAX_TOKENS))
}

/// A provider's limits; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Limits {
    /// Requests in flight at once.
    #[serde(default)]
    #[cfg_attr(feature = "utoipa", schema(minimum = 1))]
    pub max_concurrency: Option<u32>,
    /// Requests started in any 60 s.
    #[serde(default)]
    #[cfg_attr(feature = "utoipa", schema(minimum = 1))]
    pub rpm: Option<u32>,
    /// Tokens (prompt estimate + max_tokens, reconciled with the reported usage)
    /// in any 60 s.
    #[serde(default)]
    #[cfg_attr(feature = "utoipa", schema(minimum = 1))]
    pub tpm: Option<u64>,
}

/// The concurrency in force for a provider that kept interrupting answers while
/// several were in flight: lower than its settings' `max_concurrency`, until
/// `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct LoweredConcurrency {
    /// Requests in flight at once, for now.
    pub max_concurrency: u32,
    /// When the settings' own limit applies again, unless answers are
    /// interrupted meanwhile.
    pub until: chrono::DateTime<chrono::Utc>,
}

/// Why a queued task is held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum HoldReason {
    /// The provider answered 429 and is cooling down for its Retry-After.
    RateLimit,
    /// `max_concurrency` requests are in flight.
    Concurrency,
    RequestsPerMinute,
    TokensPerMinute,
    /// A budget's cap would be passed: the task waits for its reset (or for
    /// running attempts to settle below their worst case).
    Budget,
    /// In a provider batch: the answer comes when the batch ends, or the task
    /// runs live at its deadline.
    Batch,
}

impl fmt::Display for HoldReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HoldReason::RateLimit => "rate limit",
            HoldReason::Concurrency => "concurrency limit",
            HoldReason::RequestsPerMinute => "requests-per-minute limit",
            HoldReason::TokensPerMinute => "tokens-per-minute limit",
            HoldReason::Budget => "budget",
            HoldReason::Batch => "provider batch",
        })
    }
}

/// The answer for one task.
pub(crate) enum Admission {
    /// Go ahead; hold the permit for the request.
    Admitted(Permit),
    /// Held back. `until`: when the limit lifts, if a time does that (a
    /// concurrency slot frees when a request ends instead).
    Held {
        reason: HoldReason,
        until: Option<Instant>,
        /// First time this task is held for this reason: announce it.
        announce: bool,
    },
}

/// Cheap to clone; all clones count against the same gates.
#[derive(Clone)]
pub(crate) struct Limiter {
    state: Arc<Gates>,
}

struct Gates {
    by_provider: Mutex<HashMap<String, Gate>>,
    /// This runner's part of every limit on a shared queue (see [`Share`]).
    share: Mutex<Share>,
    /// Fired when a permit drops: a task held for concurrency may start.
    freed: Arc<Notify>,
}

impl Gates {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Gate>> {
        // Every update is a few field writes; a poisoned map is still consistent.
        self.by_provider.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How much of each provider limit this process may use. On a shared queue
/// the live runners split every limit (concurrency, RPM, TPM) between them, so
/// together they keep to it (docs/scale-out.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Share {
    /// One process owns the queue (redb).
    Whole,
    /// Runner `index` of `of` (in id order): `limit / of`, plus one for the
    /// first `limit % of` runners; zero is a hold.
    Part { index: usize, of: usize },
    /// Not known yet (a runner that just joined): a limited provider is held.
    Nothing,
}

impl Share {
    fn of<T>(self, limit: T) -> T
    where
        T: Copy + TryFrom<usize> + TryInto<usize>,
    {
        let whole: usize = limit.try_into().unwrap_or(usize::MAX);
        let part = match self {
            Share::Whole => whole,
            Share::Nothing => 0,
            Share::Part { index, of } => {
                let of = of.max(1);
                whole / of + usize::from(index % of < whole % of)
            }
        };
        T::try_from(part).unwrap_or(limit)
    }

    fn limits(self, limits: Limits) -> Limits {
        Limits {
            max_concurrency: limits.max_concurrency.map(|v| self.of(v)),
            rpm: limits.rpm.map(|v| self.of(v)),
            tpm: limits.tpm.map(|v| self.of(v)),
        }
    }
}

#[derive(Default)]
struct Gate {
    limits: Limits,
    in_flight: u32,
    starts: VecDeque<Instant>,
    /// (reserved at, reservation id, tokens)
    tokens: VecDeque<(Instant, u64, u64)>,
    tokens_in_window: u64,
    cool_until: Option<Instant>,
    /// The provider's last attempt failed as transient (refused, reset, 5xx,
    /// stalled, timed out): tasks with a later target pass it over until then.
    down_until: Option<Instant>,
    /// Requests at once while the provider keeps interrupting answers, and until when.
    lowered: Option<(u32, Instant)>,
    next_reservation: u64,
    announced: HashMap<TaskId, HoldReason>,
}

impl Gate {
    fn prune(&mut self, now: Instant) {
        while self.starts.front().is_some_and(|t| now - *t >= WINDOW) {
            self.starts.pop_front();
        }
        while let Some((t, _, n)) = self.tokens.front().copied() {
            if now - t < WINDOW {
                break;
            }
            self.tokens.pop_front();
            self.tokens_in_window -= n;
        }
        if self.cool_until.is_some_and(|t| t <= now) {
            self.cool_until = None;
        }
        if self.down_until.is_some_and(|t| t <= now) {
            self.down_until = None;
        }
        if self.lowered.is_some_and(|(_, until)| until <= now) {
            self.lowered = None;
        }
    }

    /// Requests allowed at once now: the settings' limit, or a lowered one.
    fn max_concurrency(&self) -> Option<u32> {
        match (self.limits.max_concurrency, self.lowered) {
            (Some(max), Some((low, _))) => Some(max.min(low)),
            (max, lowered) => max.or(lowered.map(|l| l.0)),
        }
    }

    /// The first limit in the way, if any, with this process's `share` of
    /// each.
    fn hold(&self, estimate: u64, share: Share) -> Option<(HoldReason, Option<Instant>)> {
        if let Some(until) = self.cool_until {
            return Some((HoldReason::RateLimit, Some(until)));
        }
        let limits = share.limits(self.limits);
        if self
            .max_concurrency()
            .map(|max| share.of(max))
            .is_some_and(|max| self.in_flight >= max)
        {
            return Some((HoldReason::Concurrency, None));
        }
        if let Some(rpm) = limits.rpm {
            if self.starts.len() >= rpm as usize {
                let until = self.starts.front().map(|first| *first + WINDOW);
                return Some((HoldReason::RequestsPerMinute, until));
            }
        }
        if let Some(tpm) = limits.tpm {
            // One request larger than the whole budget still runs, alone
            // (unless this runner's share is nothing).
            let over = match self.tokens.front() {
                Some(_) => self.tokens_in_window + estimate > tpm,
                None => tpm == 0,
            };
            if over {
                let until = self.tokens.front().map(|(first, _, _)| *first + WINDOW);
                return Some((HoldReason::TokensPerMinute, until));
            }
        }
        None
    }
}

impl Limiter {
    /// `freed` is notified each time a request ends.
    pub fn new(freed: Arc<Notify>) -> Self {
        Limiter {
            state: Arc::new(Gates {
                by_provider: Mutex::new(HashMap::new()),
                share: Mutex::new(Share::Whole),
                freed,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Gate>> {
        self.state.lock()
    }

    /// This process's part of every limit from now on (a shared queue's
    /// runners split them); requests in flight keep their permits.
    pub fn set_share(&self, share: Share) {
        *self.state.share.lock().unwrap_or_else(|e| e.into_inner()) = share;
        self.state.freed.notify_one();
    }

    fn share(&self) -> Share {
        *self.state.share.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces a provider's limits; requests in flight keep their permits.
    pub fn set_limits(&self, provider: &str, limits: Limits) {
        self.lock().entry(provider.to_string()).or_default().limits = limits;
    }

    /// Whether a task of `provider` may start now. `estimate` is the tokens to
    /// reserve against a tokens-per-minute limit.
    pub fn admit(&self, provider: &str, task: TaskId, estimate: u64, now: Instant) -> Admission {
        let share = self.share();
        let mut gates = self.lock();
        let Some(gate) = gates.get_mut(provider) else {
            // Not configured (the built-in mock): nothing to count.
            return Admission::Admitted(Permit::free());
        };
        gate.prune(now);
        if gate.limits == Limits::default() && gate.cool_until.is_none() && gate.lowered.is_none() {
            // Unlimited: only requests in flight are counted (an interrupted
            // answer asks how many were), and every hold is over (a later one
            // is announced afresh).
            gate.announced.clear();
            gate.in_flight += 1;
            return Admission::Admitted(Permit {
                held: Some(Held {
                    gates: self.state.clone(),
                    provider: provider.to_string(),
                    reservation: None,
                }),
            });
        }
        if let Some((reason, until)) = gate.hold(estimate, share) {
            if gate.announced.len() >= MAX_ANNOUNCED {
                gate.announced.clear();
            }
            let announce = gate.announced.insert(task, reason) != Some(reason);
            return Admission::Held {
                reason,
                until,
                announce,
            };
        }
        gate.announced.remove(&task);
        gate.in_flight += 1;
        gate.starts.push_back(now);
        let id = gate.next_reservation;
        gate.next_reservation += 1;
        gate.tokens.push_back((now, id, estimate));
        gate.tokens_in_window += estimate;
        Admission::Admitted(Permit {
            held: Some(Held {
                gates: self.state.clone(),
                provider: provider.to_string(),
                reservation: Some(id),
            }),
        })
    }

    /// An answer from `provider` was interrupted (class `incomplete`), its
    /// request still counted in flight. With others in flight too, the provider
    /// is held to one request fewer than were in flight, for [`LOWERED_FOR`]
    /// after the last interruption. Returns the new limit when it is lower than
    /// the one in force.
    pub fn interrupted(&self, provider: &str, now: Instant) -> Option<u32> {
        let mut gates = self.lock();
        let gate = gates.get_mut(provider)?;
        gate.prune(now);
        if let Some(lowered) = &mut gate.lowered {
            lowered.1 = now + LOWERED_FOR;
        }
        if gate.in_flight < 2 {
            return None;
        }
        let target = gate.in_flight - 1;
        if gate.max_concurrency().is_some_and(|max| max <= target) {
            return None;
        }
        gate.lowered = Some((target, now + LOWERED_FOR));
        Some(target)
    }

    /// The lowered concurrency in force for `provider`, if any, and how long
    /// it still holds.
    pub fn lowered(&self, provider: &str, now: Instant) -> Option<(u32, Duration)> {
        let mut gates = self.lock();
        let gate = gates.get_mut(provider)?;
        gate.prune(now);
        let (low, until) = gate.lowered?;
        gate.limits
            .max_concurrency
            .is_none_or(|max| low < max)
            .then(|| (low, until - now))
    }

    /// After a 429: no request to `provider` starts for `wait` (here, and on
    /// a shared queue, through its cool-down record, at every runner).
    pub fn cool_down(&self, provider: &str, wait: Duration) {
        let until = Instant::now() + wait;
        let mut gates = self.lock();
        let gate = gates.entry(provider.to_string()).or_default();
        gate.cool_until = Some(gate.cool_until.map_or(until, |t| t.max(until)));
    }

    /// Whether a task that has a later target should pass `provider` over now,
    /// and why: cooling down after a 429, or just found down.
    pub fn passed_over(&self, provider: &str, now: Instant) -> Option<ErrorClass> {
        let mut gates = self.lock();
        let gate = gates.get_mut(provider)?;
        gate.prune(now);
        if gate.cool_until.is_some() {
            Some(ErrorClass::RateLimited)
        } else {
            gate.down_until.map(|_| ErrorClass::Transient)
        }
    }

    /// An attempt on `provider` failed as transient: tasks with somewhere else
    /// to go pass it over for [`DOWN_FOR`], or until it answers.
    pub fn mark_down(&self, provider: &str) {
        let until = Instant::now() + DOWN_FOR;
        self.lock()
            .entry(provider.to_string())
            .or_default()
            .down_until = Some(until);
    }

    /// `provider` answered: it is up.
    pub fn mark_up(&self, provider: &str) {
        if let Some(gate) = self.lock().get_mut(provider) {
            gate.down_until = None;
        }
    }

    /// Forgets a removed provider's counters.
    pub fn remove(&self, provider: &str) {
        self.lock().remove(provider);
    }
}

/// Held by the executor for one request; dropping it ends the request for the
/// limiter.
pub(crate) struct Permit {
    held: Option<Held>,
}

struct Held {
    gates: Arc<Gates>,
    provider: String,
    /// The token reservation, when the provider has limits to count against.
    reservation: Option<u64>,
}

impl Permit {
    /// A permit that counts nothing (a provider without limits).
    pub fn free() -> Self {
        Permit { held: None }
    }

    /// Replaces the token reservation with what the provider reported using.
    pub fn reconcile(&self, tokens: u64) {
        let Some(held) = &self.held else { return };
        let Some(reservation) = held.reservation else {
            return;
        };
        let mut gates = held.gates.lock();
        let Some(gate) = gates.get_mut(&held.provider) else {
            return;
        };
        if let Some(entry) = gate.tokens.iter_mut().find(|e| e.1 == reservation) {
            gate.tokens_in_window = gate.tokens_in_window - entry.2 + tokens;
            entry.2 = tokens;
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let Some(held) = self.held.take() else { return };
        if let Some(gate) = held.gates.lock().get_mut(&held.provider) {
            gate.in_flight = gate.in_flight.saturating_sub(1);
        }
        // A slot may have freed for a held task.
        held.gates.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runners_parts_of_a_limit_add_up_to_it_and_a_part_of_zero_holds() {
        for limit in [0u32, 1, 2, 7, 60, 1000] {
            for of in 1..=9 {
                let parts: Vec<u32> = (0..of)
                    .map(|index| Share::Part { index, of }.of(limit))
                    .collect();
                assert_eq!(
                    parts.iter().sum::<u32>(),
                    limit,
                    "{limit} among {of}: {parts:?}"
                );
                assert!(parts.iter().max().unwrap() - parts.iter().min().unwrap() <= 1);
            }
        }
        assert_eq!(Share::Whole.of(5u64), 5);
        assert_eq!(Share::Nothing.of(5u64), 0);
        let limiter = Limiter::new(Arc::new(Notify::new()));
        limiter.set_limits(
            "p",
            Limits {
                max_concurrency: Some(2),
                ..Limits::default()
            },
        );
        limiter.set_share(Share::Part { index: 2, of: 3 });
        assert_eq!(
            held(limiter.admit("p", task(), 1, Instant::now())),
            Some(HoldReason::Concurrency),
            "the third of three runners has no part of 2"
        );
        limiter.set_share(Share::Part { index: 0, of: 3 });
        let first = limiter.admit("p", task(), 1, Instant::now());
        assert!(held(first).is_none());
    }

    fn task() -> TaskId {
        TaskId::new()
    }

    fn held(a: Admission) -> Option<HoldReason> {
        match a {
            Admission::Admitted(_) => None,
            Admission::Held { reason, .. } => Some(reason),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_frees_when_a_permit_drops() {
        let l = &Limiter::new(Arc::new(Notify::new()));
        l.set_limits(
            "p",
            Limits {
                max_concurrency: Some(1),
                ..Limits::default()
            },
        );
        let now = Instant::now();
        let Admission::Admitted(first) = l.admit("p", task(), 0, now) else {
            panic!("the first request must be admitted")
        };
        assert_eq!(
            held(l.admit("p", task(), 0, now)),
            Some(HoldReason::Concurrency)
        );
        drop(first);
        assert_eq!(held(l.admit("p", task(), 0, now)), None);
    }

    #[tokio::test(start_paused = true)]
    async fn requests_per_minute_slide_with_the_clock() {
        let l = &Limiter::new(Arc::new(Notify::new()));
        l.set_limits(
            "p",
            Limits {
                rpm: Some(2),
                ..Limits::default()
            },
        );
        let t0 = Instant::now();
        assert!(held(l.admit("p", task(), 0, t0)).is_none());
        assert!(held(l.admit("p", task(), 0, t0 + Duration::from_secs(10))).is_none());
        match l.admit("p", task(), 0, t0 + Duration::from_secs(20)) {
            Admission::Held { reason, until, .. } => {
                assert_eq!(reason, HoldReason::RequestsPerMinute);
                assert_eq!(until, Some(t0 + WINDOW));
            }
            Admission::Admitted(_) => panic!("a third request within a minute must wait"),
        }
        assert!(held(l.admit("p", task(), 0, t0 + WINDOW)).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_per_minute_reconcile_with_reported_usage() {
        let l = &Limiter::new(Arc::new(Notify::new()));
        l.set_limits(
            "p",
            Limits {
                tpm: Some(1000),
                ..Limits::default()
            },
        );
        let now = Instant::now();
        let Admission::Admitted(p) = l.admit("p", task(), 900, now) else {
            panic!()
        };
        assert_eq!(
            held(l.admit("p", task(), 200, now)),
            Some(HoldReason::TokensPerMinute)
        );
        // The request used far less than it reserved.
        p.reconcile(100);
        assert!(held(l.admit("p", task(), 200, now)).is_none());
        // One request over the whole budget still runs once the window is empty.
        assert!(held(l.admit("q", task(), 5000, now)).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_cool_down_holds_every_task_and_is_announced_once_per_task() {
        let l = &Limiter::new(Arc::new(Notify::new()));
        l.cool_down("p", Duration::from_secs(12));
        let t = task();
        let now = Instant::now();
        match l.admit("p", t, 0, now) {
            Admission::Held {
                reason,
                until,
                announce,
            } => {
                assert_eq!(reason, HoldReason::RateLimit);
                assert_eq!(until, Some(now + Duration::from_secs(12)));
                assert!(announce);
            }
            Admission::Admitted(_) => panic!("cooling down"),
        }
        assert!(matches!(
            l.admit("p", t, 0, now),
            Admission::Held {
                announce: false,
                ..
            }
        ));
        assert!(held(l.admit("p", t, 0, now + Duration::from_secs(12))).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn interrupted_answers_with_others_in_flight_lower_the_concurrency_for_a_while() {
        let l = &Limiter::new(Arc::new(Notify::new()));
        l.set_limits("p", Limits::default());
        let now = Instant::now();
        let permits: Vec<_> = (0..4)
            .map(|_| match l.admit("p", task(), 0, now) {
                Admission::Admitted(p) => p,
                Admission::Held { .. } => panic!("unlimited"),
            })
            .collect();
        // Four in flight, one interrupted: three at once from now on.
        assert_eq!(l.interrupted("p", now), Some(3));
        assert_eq!(l.lowered("p", now), Some((3, LOWERED_FOR)));
        assert_eq!(
            held(l.admit("p", task(), 0, now)),
            Some(HoldReason::Concurrency)
        );
        drop(permits);
        // Alone, an interruption is not the provider's concurrency: no change,
        // but the lowered limit holds longer.
        let Admission::Admitted(alone) = l.admit("p", task(), 0, now) else {
            panic!("one is under three")
        };
        let later = now + Duration::from_secs(60);
        assert_eq!(l.interrupted("p", later), None);
        assert_eq!(l.lowered("p", later), Some((3, LOWERED_FOR)));
        drop(alone);
        let over = later + LOWERED_FOR;
        assert_eq!(l.lowered("p", over), None);
        assert!((0..5).all(|_| held(l.admit("p", task(), 0, over)).is_none()));
    }
}
