//! A runner of a shared queue (PostgreSQL, docs/scale-out.md): its lease, kept
//! by a heartbeat, and the rescue of the tasks of runners that are gone.
//!
//! Another runner rescues this one's running tasks once its last heartbeat is
//! older than the lease, on the database's clock. So this runner must have
//! stopped its own provider calls by then: its [`Lease`] runs out a margin
//! earlier, counted on this machine's monotonic clock from the moment the last
//! successful heartbeat was sent (never later than the database wrote it).
//! Once it has run out, running attempts are interrupted, nothing is claimed
//! and no provider call starts, until a heartbeat succeeds again; a late
//! outcome is then refused by the lifecycle's run-number fence anyway.
//!
//! With redb one process owns the file: the lease never runs out.

use crate::engine::Inner;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The shortest lease a runner accepts: heartbeats are a tenth of it.
pub const MIN_LEASE: Duration = Duration::from_secs(2);

/// How long this runner's own lease holds after a heartbeat is sent: a fifth
/// less than the database's, time for the loop to notice (a heartbeat
/// interval) and for the interrupted calls to end.
pub(crate) fn held_for(lease: Duration) -> Duration {
    lease - lease / 5
}

/// Whether this runner may still start and finish provider calls.
pub(crate) struct Lease {
    state: Mutex<State>,
    /// `true` while the lease holds, for the dispatcher to wait on.
    alive: watch::Sender<bool>,
}

struct State {
    /// `None`: the lease never runs out (redb).
    until: Option<Instant>,
    /// Cancelled when the lease runs out; a new one once it is renewed.
    lost: CancellationToken,
}

impl Lease {
    pub fn unlimited() -> Lease {
        Lease {
            state: Mutex::new(State {
                until: None,
                lost: CancellationToken::new(),
            }),
            alive: watch::Sender::new(true),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Holds until `until`. True when it had run out (the runner is back).
    pub fn renew(&self, until: Instant) -> bool {
        let mut state = self.lock();
        let was_lost = state.lost.is_cancelled();
        if was_lost {
            state.lost = CancellationToken::new();
        }
        state.until = Some(until);
        drop(state);
        self.alive.send_replace(true);
        was_lost
    }

    /// Ends the lease now. True when it held until now.
    pub fn end(&self) -> bool {
        let state = self.lock();
        let held = !state.lost.is_cancelled();
        state.lost.cancel();
        drop(state);
        self.alive.send_replace(false);
        held
    }

    /// The token cancelled when the lease runs out, for an attempt about to
    /// call its provider; `None` when it has run out already (checked
    /// against the clock here, so a runner that was stopped for longer than
    /// its lease starts no call before its heartbeat loop notices).
    pub fn current(&self) -> Option<CancellationToken> {
        self.end_if_run_out().then(|| self.lock().lost.clone())
    }

    /// Ends the lease (and says so, once) when it has run out by the clock;
    /// true while it still holds.
    pub fn end_if_run_out(&self) -> bool {
        let expired = {
            let state = self.lock();
            if state.lost.is_cancelled() {
                return false;
            }
            state.until.is_some_and(|until| Instant::now() >= until)
        };
        if expired {
            if self.end() {
                tracing::warn!(
                    "no heartbeat reached the database for most of the lease: this runner stops its calls and claims nothing until one does"
                );
            }
            return false;
        }
        true
    }

    pub fn watch(&self) -> watch::Receiver<bool> {
        self.alive.subscribe()
    }
}

/// How often a runner on a shared queue looks for work other runners made
/// (queued, scheduled, due deliveries): their wake-ups do not reach it.
pub(crate) const POLL_EVERY: Duration = Duration::from_millis(250);

/// Wakes the dispatcher, the scheduler and the deliverer every [`POLL_EVERY`]
/// on PostgreSQL; returns at once on redb, where every change is this
/// process's and wakes them itself.
pub(crate) async fn poll(inner: Arc<Inner>) {
    if inner
        .store()
        .ok()
        .and_then(|db| db.postgres().cloned())
        .is_none()
    {
        return;
    }
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = inner.stop_intake.cancelled() => return,
            _ = tick.tick() => {}
        }
        inner.shared.wake_dispatcher.notify_one();
        inner.shared.wake_scheduler.notify_one();
        inner.shared.wake_deliverer.notify_one();
    }
}

/// Most outbox events read at once.
const TAIL_PAGE: usize = 1024;

/// How often a runner prunes the outbox, and at most how many batches then.
const PRUNE_EVERY: Duration = Duration::from_secs(5);
const PRUNE_BATCHES: usize = 100;

/// Follows the outbox on PostgreSQL: every other runner's events are applied
/// here ([`crate::remote::apply_remote`]: published to this engine's
/// subscribers, waking the dispatcher or the scheduler, aborting a call
/// cancelled elsewhere), in the order they committed. The doorbell
/// (`LISTEN`) only shortens the wait; every [`POLL_EVERY`] the outbox is read
/// anyway. Old events are pruned by every runner now and then. Returns at
/// once on redb.
pub(crate) async fn tail(inner: Arc<Inner>) {
    let Some(pg) = inner.store().ok().and_then(|db| db.postgres().cloned()) else {
        return;
    };
    // Events from now on: what came before is in the tables this engine reads.
    let mut cursor = loop {
        let pg = pg.clone();
        match tokio::task::spawn_blocking(move || pg.events_head()).await {
            Ok(Ok(head)) => break head,
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot read the shared queue's events yet"),
            Err(_) => return,
        }
        tokio::select! {
            _ = inner.stop_intake.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    };
    let mut listener = {
        let pg = pg.clone();
        tokio::task::spawn_blocking(move || pg.listen().ok())
            .await
            .ok()
            .flatten()
    };
    let mut next_prune = Instant::now();
    loop {
        if inner.stop_intake.is_cancelled() {
            return;
        }
        let read = {
            let pg = pg.clone();
            tokio::task::spawn_blocking(move || {
                pg.events_after(cursor, TAIL_PAGE, crate::pg::EventsOf::OtherRunners)
            })
            .await
        };
        let full = match read {
            Ok(Ok(page)) => {
                if page.lagged {
                    tracing::warn!("missed some of the shared queue's events (this runner was away longer than they are kept); views reload");
                    inner
                        .shared
                        .events
                        .missed_elsewhere(page.cursor.saturating_sub(cursor));
                }
                let full = page.events.len() >= TAIL_PAGE;
                for remote in page.events {
                    crate::remote::apply_remote(&inner.shared, remote.event, inner.run_tasks);
                }
                cursor = page.cursor;
                full
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "could not read the shared queue's events");
                false
            }
            Err(_) => return,
        };
        if Instant::now() >= next_prune {
            // Every few seconds, and batch after batch until the old events are
            // gone: one batch per round fell behind the rate runners write them.
            next_prune = Instant::now() + PRUNE_EVERY;
            let pg = pg.clone();
            let _ = tokio::task::spawn_blocking(move || {
                for _ in 0..PRUNE_BATCHES {
                    match pg.prune_events(crate::pg::EVENT_RETENTION) {
                        Ok(n) if n >= crate::pg::PRUNE_EVENTS_BATCH => continue,
                        _ => break,
                    }
                }
            })
            .await;
        }
        if full {
            continue;
        }
        // Wait for the doorbell, at most a poll interval.
        listener = match listener.take() {
            Some(mut l) => {
                let stop = inner.stop_intake.clone();
                tokio::select! {
                    _ = stop.cancelled() => return,
                    back = tokio::task::spawn_blocking(move || {
                        l.wait(POLL_EVERY);
                        l
                    }) => back.ok(),
                }
            }
            None => {
                tokio::select! {
                    _ = inner.stop_intake.cancelled() => return,
                    _ = tokio::time::sleep(POLL_EVERY) => {}
                }
                None
            }
        };
    }
}

/// This runner's part of the provider limits: its place among the live
/// runners, in id order (every runner sorts the same list the same way).
fn share_of(runners: &[crate::pg::Runner]) -> crate::provider::Share {
    let mut live: Vec<&crate::pg::Runner> = runners
        .iter()
        .filter(|r| r.this_process || r.silent_ms <= r.lease_ms)
        .collect();
    live.sort_by(|a, b| a.id.cmp(&b.id));
    match live.iter().position(|r| r.this_process) {
        Some(index) => crate::provider::Share::Part {
            index,
            of: live.len(),
        },
        None => crate::provider::Share::Nothing,
    }
}

/// The heartbeat and rescue loop of a runner on PostgreSQL; returns at once
/// on redb. Stops with the engine's intake.
pub(crate) async fn serve(inner: Arc<Inner>, lease: Duration) {
    let Some(pg) = inner.store().ok().and_then(|db| db.postgres().cloned()) else {
        return;
    };
    let beat = lease / 10;
    let held_for = held_for(lease);
    let rescue_every = (lease / 4).max(beat);
    let mut next_rescue = Instant::now() + rescue_every;
    // This runner's part of the provider limits is taken only once every
    // other runner has had a heartbeat (and so shrunk its own part) since
    // this one registered: two heartbeat intervals.
    let share_from = Instant::now() + 2 * beat;
    type Beat = Result<(bool, chrono::Duration), crate::TaskError>;
    let mut in_flight: Option<tokio::task::JoinHandle<Beat>> = None;
    let mut sent_at = Instant::now();
    let mut rescuing: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        tokio::select! {
            _ = inner.stop_intake.cancelled() => return,
            _ = tokio::time::sleep(beat) => {}
        }
        // A heartbeat that has not come back (a partition) is waited for, not
        // sent again; the lease runs out meanwhile.
        let mut handle = match in_flight.take() {
            Some(h) => h,
            None => {
                sent_at = Instant::now();
                let pg = pg.clone();
                tokio::task::spawn_blocking(move || pg.heartbeat_clock())
            }
        };
        let answer = match tokio::time::timeout(beat, &mut handle).await {
            Ok(answer) => Some(answer),
            Err(_) => {
                in_flight = Some(handle);
                None
            }
        };
        match answer {
            None => {}
            Some(Ok(Ok((true, ahead)))) => {
                inner.shared.db_clock_ahead_ms.store(
                    ahead.num_milliseconds(),
                    std::sync::atomic::Ordering::Relaxed,
                );
                if inner.shared.lease.renew(sent_at + held_for) {
                    tracing::info!(
                        "the shared queue answers again: this runner claims tasks again"
                    );
                    inner.shared.wake_dispatcher.notify_one();
                }
                if Instant::now() >= share_from {
                    let pg = pg.clone();
                    // Bounded, as every wait in this loop: the lease is watched here.
                    let read = tokio::task::spawn_blocking(move || pg.runners());
                    if let Ok(Ok(Ok(runners))) = tokio::time::timeout(beat, read).await {
                        inner.dispatcher.limiter().set_share(share_of(&runners));
                    }
                }
            }
            Some(Ok(Ok((false, _)))) => {
                if inner.shared.lease.end() {
                    tracing::warn!(
                        "this runner was presumed gone (its lease ran out) and its running tasks were rescued by another; its own calls were stopped"
                    );
                }
                let pg = pg.clone();
                let sent = Instant::now();
                let rejoin = tokio::task::spawn_blocking(move || pg.rejoin());
                match tokio::time::timeout(beat, rejoin).await.unwrap_or(Ok(Err(
                    crate::TaskError::Storage("the database did not answer".into()),
                ))) {
                    Ok(Ok(())) => {
                        inner.shared.lease.renew(sent + held_for);
                        tracing::info!("this runner joined the shared queue again");
                        inner.shared.wake_dispatcher.notify_one();
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "could not join the shared queue again")
                    }
                    Err(_) => {}
                }
            }
            Some(Ok(Err(e))) => {
                tracing::warn!(error = %e, "heartbeat failed: the shared queue's database does not answer");
            }
            Some(Err(_)) => {}
        }
        inner.shared.lease.end_if_run_out();
        // The rescue goes through the writer, which waits for the database:
        // it runs beside this loop, never in it, so the lease is watched on
        // time while the database does not answer.
        if Instant::now() >= next_rescue && rescuing.as_ref().is_none_or(|r| r.is_finished()) {
            next_rescue = Instant::now() + rescue_every;
            let writer = inner.writer.clone();
            let shared = inner.shared.clone();
            rescuing = Some(tokio::spawn(async move {
                match writer.recover().await {
                    Ok((rescued, adopted)) => {
                        for task in rescued {
                            tracing::warn!(task_id = %task.id, status = %task.status, "rescued a task whose runner is gone");
                        }
                        if !adopted.is_empty() {
                            tracing::warn!(
                                tasks = adopted.len(),
                                "took over the provider batches of a runner that is gone"
                            );
                            shared.to_batcher(Vec::new(), adopted);
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "could not look for tasks of runners that are gone")
                    }
                }
            }));
        }
    }
}
