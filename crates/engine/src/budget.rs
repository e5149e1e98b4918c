//! Budgets: caps on what tasks may spend, in money or tokens, per day or per
//! month, over every task, one provider's or one schedule's.
//!
//! A cap can never be overshot because spending is reserved before it happens:
//! when the dispatcher claims a task, the claim's transaction reserves the
//! task's worst case (its prompt's upper bound in tokens plus its completion
//! limit, priced) in every budget that counts it, and a task whose worst case
//! does not fit is not claimed. When the attempt ends, the transaction that
//! records it settles the reservation with the usage the provider reported. The
//! budgets and each task's reservation live in the store, so a crash loses
//! neither: an attempt whose outcome was lost (recovered after a crash,
//! cancelled while running) is settled at its reservation, since the provider
//! may have billed it.
//!
//! Periods start at midnight (the first of the month for monthly caps) in the
//! budget's time zone, computed from the local calendar each time, so a
//! daylight-saving change moves nothing. Providers without prices are outside
//! money caps; token caps count every provider.

use crate::error::TaskError;
use crate::events::Draft;
use crate::provider::{Prices, DEFAULT_MAX_TOKENS};
use crate::schedule::ScheduleId;
use crate::storage::TaskTxn;
use crate::task::{Real, Task};
use chrono::{DateTime, Datelike, LocalResult, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Most budgets one database holds.
pub const MAX_BUDGETS: usize = 64;
/// Longest budget name, in characters.
pub const MAX_BUDGET_NAME: usize = 64;
/// The share of a cap at which a warning is sent.
pub const WARN_AT: f64 = 0.8;
/// Tokens added to a prompt's byte length for its worst case: the chat
/// template's own tokens (roles, separators) around the text.
const TEMPLATE_TOKENS: u64 = 64;

/// What a cap counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum BudgetUnit {
    /// US dollars, from the provider's prices.
    Usd,
    /// Prompt and completion tokens together.
    Tokens,
}

/// How long a cap lasts before it resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum BudgetPeriod {
    /// Resets every midnight.
    Daily,
    /// Resets at midnight on the first of each month.
    Monthly,
}

impl BudgetPeriod {
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetPeriod::Daily => "daily",
            BudgetPeriod::Monthly => "monthly",
        }
    }
}

/// Which tasks a budget counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum BudgetScope {
    /// Every task.
    All,
    /// Tasks sent to this provider.
    Provider { provider: String },
    /// Tasks this schedule created (`schedule` is its name when the budget was set).
    Schedule {
        schedule_id: ScheduleId,
        schedule: String,
    },
}

/// A cap and what has been spent against it in the current period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Budget {
    pub name: String,
    pub period: BudgetPeriod,
    /// The cap, in `unit`s.
    pub amount: Real,
    pub unit: BudgetUnit,
    pub scope: BudgetScope,
    /// The IANA zone whose midnight resets the cap.
    pub timezone: String,
    pub created_at: DateTime<Utc>,
    /// When the current period began.
    pub period_start: DateTime<Utc>,
    /// When the current period ends and the cap resets.
    pub resets_at: DateTime<Utc>,
    /// Settled spending in the current period.
    pub spent: Real,
    /// The worst cases of the attempts running now.
    pub reserved: Real,
    /// The 80% warning was sent in this period.
    #[serde(default)]
    pub warned: bool,
}

/// What a caller gives to set a budget (a new one, or a change to one of the
/// same name: a change of period, unit or zone starts its counts afresh).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct NewBudget {
    /// 1 to 64 letters, digits, `-`, `_` or `.`.
    pub name: String,
    pub period: BudgetPeriod,
    /// The cap: more than 0.
    pub amount: f64,
    pub unit: BudgetUnit,
    /// Count only this provider's tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Count only this schedule's tasks (its name or id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// The zone whose midnight resets the cap; the engine's local zone when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// One budget's share of a running attempt's worst case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Reserved {
    pub budget: String,
    /// The period it was reserved in: settled there, or not at all once that
    /// period has ended (its counts are gone).
    pub period_start: DateTime<Utc>,
    pub amount: Real,
}

/// An attempt's usage, as it settles a reservation.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Spent {
    pub tokens: Option<u64>,
    pub cost_usd: Option<f64>,
}

/// Checks a budget name: the same alphabet as tags, a bit longer.
pub(crate) fn validate_name(name: &str) -> Result<String, TaskError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_BUDGET_NAME {
        return Err(TaskError::invalid(
            "name",
            format!("a budget's name must be 1 to {MAX_BUDGET_NAME} characters"),
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(TaskError::invalid(
            "name",
            format!("a budget's name may hold letters, digits, '-', '_' and '.', not '{c}'"),
        ));
    }
    Ok(name.to_string())
}

pub(crate) fn validate_amount(amount: f64, unit: BudgetUnit) -> Result<f64, TaskError> {
    if !amount.is_finite() || amount <= 0.0 {
        return Err(TaskError::invalid(
            "amount",
            format!("a budget's amount must be more than 0, not {amount}"),
        ));
    }
    if amount > 1e12 {
        return Err(TaskError::invalid(
            "amount",
            "a budget's amount must be at most 1000000000000",
        ));
    }
    if unit == BudgetUnit::Tokens && amount.fract() != 0.0 {
        return Err(TaskError::invalid(
            "amount",
            format!("a token budget is a whole number of tokens, not {amount}"),
        ));
    }
    Ok(amount)
}

/// The instant a local date's midnight falls at in `tz`. Where a change of
/// clocks skips midnight, the first instant of that day.
fn midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let start = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    for minutes in 0..=24 * 60 {
        let local = start + chrono::Duration::minutes(minutes);
        match tz.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => return t.with_timezone(&Utc),
            LocalResult::None => continue,
        }
    }
    start.and_utc()
}

/// The period containing `now`: its start and its end.
pub(crate) fn period_bounds(
    now: DateTime<Utc>,
    tz: Tz,
    period: BudgetPeriod,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let today = now.with_timezone(&tz).date_naive();
    let (first, next) = match period {
        BudgetPeriod::Daily => (today, today.succ_opt().unwrap_or(today)),
        BudgetPeriod::Monthly => {
            let first = today.with_day(1).unwrap_or(today);
            let next = if first.month() == 12 {
                NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
            };
            (first, next.unwrap_or(first))
        }
    };
    (midnight(tz, first), midnight(tz, next))
}

impl Budget {
    /// A new budget, its first period the one containing `now`.
    pub(crate) fn new(
        name: String,
        period: BudgetPeriod,
        amount: f64,
        unit: BudgetUnit,
        scope: BudgetScope,
        tz: Tz,
        now: DateTime<Utc>,
    ) -> Budget {
        let (period_start, resets_at) = period_bounds(now, tz, period);
        Budget {
            name,
            period,
            amount: Real(amount),
            unit,
            scope,
            timezone: tz.name().to_string(),
            created_at: now,
            period_start,
            resets_at,
            spent: Real(0.0),
            reserved: Real(0.0),
            warned: false,
        }
    }

    fn zone(&self) -> Tz {
        self.timezone.parse().unwrap_or(chrono_tz::UTC)
    }

    /// Moves to the period containing `now` if the current one has ended:
    /// its counts start from nothing. True when it moved.
    pub(crate) fn roll(&mut self, now: DateTime<Utc>) -> bool {
        if now < self.resets_at {
            return false;
        }
        let (start, end) = period_bounds(now, self.zone(), self.period);
        self.period_start = start;
        self.resets_at = end;
        self.spent = Real(0.0);
        self.reserved = Real(0.0);
        self.warned = false;
        true
    }

    /// Whether this budget counts `task`, sent to `provider`.
    pub(crate) fn counts(&self, task: &Task, provider: &str) -> bool {
        match &self.scope {
            BudgetScope::All => true,
            BudgetScope::Provider { provider: p } => p == provider,
            BudgetScope::Schedule { schedule_id, .. } => task.schedule_id == Some(*schedule_id),
        }
    }

    /// What an amount of this budget's unit reads as: "$0.50", "120,000 tokens".
    pub fn format_amount(&self, amount: f64) -> String {
        format_amount(amount, self.unit)
    }

    /// "the daily cap of $2.00 resets at 00:00 Europe/Paris".
    pub fn reset_sentence(&self) -> String {
        let local = self.resets_at.with_timezone(&self.zone());
        let when = match self.period {
            BudgetPeriod::Daily => format!("at {}", local.format("%H:%M")),
            BudgetPeriod::Monthly => {
                format!("on {} at {}", local.format("%-d %B"), local.format("%H:%M"))
            }
        };
        format!(
            "the {} cap of {} resets {when} {}",
            self.period.as_str(),
            self.format_amount(self.amount.0),
            self.timezone
        )
    }

    fn used(&self) -> f64 {
        self.spent.0 + self.reserved.0
    }
}

pub(crate) fn format_amount(amount: f64, unit: BudgetUnit) -> String {
    match unit {
        BudgetUnit::Usd if amount != 0.0 && amount.abs() < 0.01 => format!("${amount:.4}"),
        BudgetUnit::Usd => format!("${amount:.2}"),
        BudgetUnit::Tokens => {
            let digits = format!("{}", amount.round() as u64);
            let mut out = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i) % 3 == 0 {
                    out.push(',');
                }
                out.push(c);
            }
            format!("{out} tokens")
        }
    }
}

/// An attempt's worst case: its prompt can be no more tokens than bytes (a
/// token of a byte-level tokenizer covers at least one byte) plus the chat
/// template's, and its completion no more than its limit (sent to the
/// provider whenever a budget counts the task: see `executor`).
pub(crate) fn worst_case(task: &Task, prices: Option<&Prices>) -> Spent {
    let prompt = task.prompt_to_send().len() as u64
        + task.system.as_deref().map_or(0, |s| s.len() as u64)
        + TEMPLATE_TOKENS;
    let completion = u64::from(task.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS));
    Spent {
        tokens: Some(prompt + completion),
        cost_usd: prices.map(|p| p.cost(prompt, completion)),
    }
}

impl Spent {
    /// This usage in `unit`, if it has one (a provider without prices has no cost).
    fn amount(&self, unit: BudgetUnit) -> Option<f64> {
        match unit {
            BudgetUnit::Usd => self.cost_usd,
            BudgetUnit::Tokens => self.tokens.map(|t| t as f64),
        }
    }
}

/// Why a task is not claimed: the first budget its worst case does not fit.
#[derive(Debug)]
pub(crate) struct OverBudget {
    pub message: String,
    pub resets_at: DateTime<Utc>,
}

/// The budgets a claim reads once, reserves against in memory, and writes
/// back if anything changed.
pub(crate) struct Book {
    budgets: Vec<Budget>,
    changed: bool,
}

impl Book {
    pub fn new(mut budgets: Vec<Budget>, now: DateTime<Utc>) -> Book {
        let mut changed = false;
        for b in &mut budgets {
            changed |= b.roll(now);
        }
        Book { budgets, changed }
    }

    pub fn is_empty(&self) -> bool {
        self.budgets.is_empty()
    }

    /// What `task` would reserve, sent to `provider` with `prices`; `Err` with
    /// the sentence a held task shows when one budget cannot take it.
    pub fn check(
        &self,
        task: &Task,
        provider: &str,
        prices: Option<&Prices>,
    ) -> Result<Vec<Reserved>, OverBudget> {
        let worst = worst_case(task, prices);
        let mut reserve = Vec::new();
        for b in self.budgets.iter().filter(|b| b.counts(task, provider)) {
            let Some(amount) = worst.amount(b.unit) else {
                continue; // no prices: outside money caps
            };
            if b.used() + amount > b.amount.0 {
                let message = if amount > b.amount.0 {
                    format!(
                        "waiting for budget '{}': this task may cost up to {}, more than its {} cap of {}; raise the cap or lower the task's max tokens",
                        b.name,
                        b.format_amount(amount),
                        b.period.as_str(),
                        b.format_amount(b.amount.0),
                    )
                } else {
                    format!("waiting for budget '{}': {}", b.name, b.reset_sentence())
                };
                return Err(OverBudget {
                    message,
                    resets_at: b.resets_at,
                });
            }
            reserve.push(Reserved {
                budget: b.name.clone(),
                period_start: b.period_start,
                amount: Real(amount),
            });
        }
        Ok(reserve)
    }

    /// Takes what [`Book::check`] answered: the task is being claimed.
    pub fn reserve(&mut self, reserved: &[Reserved]) {
        for r in reserved {
            if let Some(b) = self.budgets.iter_mut().find(|b| b.name == r.budget) {
                b.reserved = Real(b.reserved.0 + r.amount.0);
                self.changed = true;
            }
        }
    }

    /// The budgets to write back, if the claim changed any.
    pub fn into_changed(self) -> Option<Vec<Budget>> {
        self.changed.then_some(self.budgets)
    }
}

/// Tasks held by a budget and the sentence last announced for each, so a
/// hold is announced once, not on every claim. Cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Announced(
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<crate::task::TaskId, String>>>,
);

/// Past this many held tasks the memory is cleared (a repeat is harmless).
const MAX_ANNOUNCED: usize = 4096;

impl Announced {
    /// True the first time `task` is held with this `message`.
    pub fn first(&self, task: crate::task::TaskId, message: &str) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(&task).is_some_and(|m| m == message) {
            return false;
        }
        if map.len() >= MAX_ANNOUNCED {
            map.clear();
        }
        map.insert(task, message.to_string());
        true
    }

    /// The task was claimed: a later hold is news again.
    pub fn forget(&self, task: crate::task::TaskId) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !map.is_empty() {
            map.remove(&task);
        }
    }
}

/// Settles one budget's reservation with what the attempt spent (`None`:
/// unknown, so the reservation stands as spent). A warning draft when the
/// settled spending crosses [`WARN_AT`] of the cap for the first time in the
/// period.
pub(crate) fn settle(
    budget: &mut Budget,
    reserved: &Reserved,
    spent: Option<Spent>,
    task: &Task,
    now: DateTime<Utc>,
) -> Option<Draft> {
    budget.roll(now);
    if budget.period_start != reserved.period_start {
        return None; // reserved in a period that has ended: its counts are gone
    }
    let actual = match spent {
        Some(s) => s.amount(budget.unit).unwrap_or(reserved.amount.0),
        None => reserved.amount.0,
    };
    // Sums of floats leave dust (4e-17) when the last reservation is taken
    // back: below a billionth of a dollar (or token) it is nothing.
    let left = budget.reserved.0 - reserved.amount.0;
    budget.reserved = Real(if left < 1e-9 { 0.0 } else { left });
    budget.spent = Real(budget.spent.0 + actual);
    if !budget.warned && budget.spent.0 >= WARN_AT * budget.amount.0 {
        budget.warned = true;
        return Some(Draft::budget_warning(task.id, budget, now));
    }
    None
}

/// A change to the budgets, applied by the writer.
pub(crate) enum BudgetOp {
    /// Adds a budget or replaces the one of the same name.
    Set(Budget),
    Remove(String),
}

/// Applies `op` in a unit of work; the budget as stored (before a removal).
pub(crate) fn apply(
    txn: &mut impl TaskTxn,
    now: DateTime<Utc>,
    op: BudgetOp,
) -> Result<Budget, TaskError> {
    match op {
        BudgetOp::Set(mut new) => {
            let budgets = txn.budgets()?;
            match budgets.iter().find(|b| b.name == new.name) {
                Some(old) => {
                    new.created_at = old.created_at;
                    // A new cap in the same period keeps what was spent against the
                    // old; another period, unit or zone starts afresh.
                    if (old.period, old.unit, &old.timezone)
                        == (new.period, new.unit, &new.timezone)
                    {
                        new.period_start = old.period_start;
                        new.resets_at = old.resets_at;
                        new.spent = old.spent;
                        new.reserved = old.reserved;
                        new.warned = old.warned && old.amount == new.amount;
                        new.roll(now);
                    }
                }
                None if budgets.len() >= MAX_BUDGETS => {
                    return Err(TaskError::invalid(
                        "name",
                        format!("at most {MAX_BUDGETS} budgets can be set; remove one first"),
                    ))
                }
                None => {}
            }
            txn.put_budget(&new)?;
            Ok(new)
        }
        BudgetOp::Remove(name) => txn
            .remove_budget(&name)?
            .ok_or(TaskError::BudgetNotFound(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_daily_period_runs_from_local_midnight_to_the_next_across_a_dst_change() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        // 29 March 2026: clocks go from 02:00 to 03:00, the day is 23 hours long.
        let (start, end) = period_bounds(at("2026-03-29T12:00:00Z"), paris, BudgetPeriod::Daily);
        assert_eq!(start, at("2026-03-28T23:00:00Z"));
        assert_eq!(end, at("2026-03-29T22:00:00Z"));
        // Just before local midnight the day is still the old one.
        let (start, _) = period_bounds(at("2026-03-29T21:59:59Z"), paris, BudgetPeriod::Daily);
        assert_eq!(start, at("2026-03-28T23:00:00Z"));
    }

    #[test]
    fn a_skipped_midnight_starts_the_day_at_its_first_instant() {
        // Santiago moves clocks from 00:00 to 01:00 on 6 September 2026.
        let santiago: Tz = "America/Santiago".parse().unwrap();
        let (start, _) = period_bounds(at("2026-09-06T12:00:00Z"), santiago, BudgetPeriod::Daily);
        assert_eq!(
            start
                .with_timezone(&santiago)
                .format("%d %H:%M")
                .to_string(),
            "06 01:00"
        );
    }

    #[test]
    fn a_monthly_period_runs_from_the_first_to_the_first_also_in_december() {
        let utc = chrono_tz::UTC;
        let (start, end) = period_bounds(at("2026-12-31T23:59:00Z"), utc, BudgetPeriod::Monthly);
        assert_eq!(start, at("2026-12-01T00:00:00Z"));
        assert_eq!(end, at("2027-01-01T00:00:00Z"));
    }

    #[test]
    fn rolling_into_a_new_period_clears_the_counts_and_the_warning() {
        let mut b = Budget::new(
            "day".into(),
            BudgetPeriod::Daily,
            1.0,
            BudgetUnit::Usd,
            BudgetScope::All,
            chrono_tz::UTC,
            at("2026-12-04T10:00:00Z"),
        );
        b.spent = Real(0.9);
        b.reserved = Real(0.1);
        b.warned = true;
        assert!(!b.roll(at("2026-12-04T23:59:59Z")));
        assert_eq!(b.spent, Real(0.9));
        assert!(b.roll(at("2026-12-05T00:00:00Z")));
        assert_eq!(
            (b.spent, b.reserved, b.warned),
            (Real(0.0), Real(0.0), false)
        );
        assert_eq!(b.resets_at, at("2026-12-06T00:00:00Z"));
    }

    #[test]
    fn a_held_task_is_told_which_cap_and_when_it_resets() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let mut b = Budget::new(
            "nightly".into(),
            BudgetPeriod::Daily,
            2.0,
            BudgetUnit::Usd,
            BudgetScope::All,
            paris,
            at("2026-12-04T10:00:00Z"),
        );
        b.spent = Real(2.0);
        let book = Book::new(vec![b], at("2026-12-04T10:00:00Z"));
        let prices = Prices {
            input_per_mtok: 1.0,
            output_per_mtok: 1.0,
        };
        let task = Task::sample("hello");
        let held = book.check(&task, "mock", Some(&prices)).unwrap_err();
        assert_eq!(
            held.message,
            "waiting for budget 'nightly': the daily cap of $2.00 resets at 00:00 Europe/Paris"
        );
        // Without prices the task is outside the money cap.
        assert_eq!(book.check(&task, "mock", None).unwrap(), vec![]);
    }

    #[test]
    fn settling_replaces_the_reservation_with_the_spending_and_warns_once() {
        let now = at("2026-12-04T10:00:00Z");
        let mut b = Budget::new(
            "t".into(),
            BudgetPeriod::Daily,
            100.0,
            BudgetUnit::Tokens,
            BudgetScope::All,
            chrono_tz::UTC,
            now,
        );
        let task = Task::sample("x");
        let r = Reserved {
            budget: "t".into(),
            period_start: b.period_start,
            amount: Real(60.0),
        };
        b.reserved = Real(60.0);
        let spent = Spent {
            tokens: Some(50),
            cost_usd: None,
        };
        assert!(settle(&mut b, &r, Some(spent), &task, now).is_none());
        assert_eq!((b.spent, b.reserved), (Real(50.0), Real(0.0)));
        b.reserved = Real(60.0);
        assert!(settle(&mut b, &r, Some(spent), &task, now).is_some());
        assert_eq!(b.spent, Real(100.0));
        b.reserved = Real(60.0);
        assert!(
            settle(&mut b, &r, None, &task, now).is_none(),
            "warned once"
        );
        assert_eq!(
            b.spent,
            Real(160.0),
            "an unknown usage counts its reservation"
        );
    }

    #[test]
    fn amounts_read_as_money_or_tokens() {
        assert_eq!(format_amount(0.5, BudgetUnit::Usd), "$0.50");
        assert_eq!(format_amount(0.0012, BudgetUnit::Usd), "$0.0012");
        assert_eq!(
            format_amount(1_234_567.0, BudgetUnit::Tokens),
            "1,234,567 tokens"
        );
    }
}
