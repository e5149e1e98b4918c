//! The event outbox on PostgreSQL: what one runner commits, every other
//! runner and client reads (docs/scale-out.md, "Events from every runner").
//!
//! A unit's events are inserted into `baton_events` as its last statements,
//! in the unit's transaction: they commit with the change they describe, or
//! vanish with it. Readers tail the table by sequence number
//! ([`PgStore::events_after`]); `NOTIFY baton_events` in the same transaction
//! is only a doorbell ([`PgListener`]): polling alone sees every event.
//!
//! Why a tail by sequence number is correct here, when a `bigserial` is not
//! commit order in general: the insert takes a transaction-level advisory
//! lock first ([`EVENTS_LOCK`]), held until the commit has ended. So the
//! transactions that insert events hold the numbers they took one at a time,
//! and each is visible (PostgreSQL ends a transaction's visibility before it
//! releases its locks) before the next one can take a number: every snapshot
//! sees a prefix of the sequence, up to rolled-back gaps, and "seq > cursor"
//! never skips an event that commits late. Per-task order follows: a second
//! unit writing a task waits for the first's row lock before it can insert
//! its events, so its events come after.

use super::{db, decode, encode, uuid_of, PgStore, PgTxn};
use crate::error::TaskError;
use crate::events::{Draft, Event, EventKind};
use crate::task::TaskId;
use chrono::{DateTime, Utc};
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config, NoTls};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Taken (transaction-level) just before a unit inserts its events, and
/// held to the end of its commit: event numbers are taken in commit order.
const EVENTS_LOCK: i64 = 0x6261_746f_6e00_0007; // "baton" + 7

/// The doorbell's channel.
pub const EVENTS_CHANNEL: &str = "baton_events";

/// How long events stay in the outbox (see [`PgStore::prune_events`]).
pub const EVENT_RETENTION: Duration = Duration::from_secs(5 * 60);

/// The newest event's number (the prune mark once every event is pruned).
const HEAD: &str = "SELECT greatest(coalesce((SELECT max(seq) FROM baton_events), 0),
                                (SELECT through FROM baton_events_pruned))";

/// Most events one [`PgStore::prune_events`] removes.
pub(crate) const PRUNE_EVENTS_BATCH: usize = 1000;

/// Schema version 7: the outbox, and how far it has been pruned (so a reader
/// behind that point knows it missed events).
pub(super) const MIGRATION: &str = "CREATE TABLE baton_events (
         seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         -- the database's clock at insert, under the events lock: what pruning reads
         recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
         runner_id uuid NOT NULL,
         task_id uuid NOT NULL,
         at timestamptz NOT NULL,
         -- the EventKind, as JSON
         kind bytea NOT NULL
     );
     CREATE TABLE baton_events_pruned (
         one boolean PRIMARY KEY DEFAULT true CHECK (one),
         -- every event at or below this number may be gone
         through bigint NOT NULL
     );
     INSERT INTO baton_events_pruned (through) VALUES (0);";

/// An event another process (or this one) committed, read from the outbox.
#[derive(Debug, Clone)]
pub struct RemoteEvent {
    /// The runner whose unit committed it.
    pub runner: Uuid,
    /// `seq` is the event's place in the outbox (not a local broadcast number).
    pub event: Event,
}

/// Whose events [`PgStore::events_after`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventsOf {
    /// Every runner's: a client that runs no tasks.
    AllRunners,
    /// Every runner's but this store's own, which the runner already
    /// published on its local broadcast after its commit.
    OtherRunners,
}

/// A page of the outbox.
#[derive(Debug, Clone)]
pub struct EventPage {
    /// In commit order.
    pub events: Vec<RemoteEvent>,
    /// Where the next read starts (past this store's own events too).
    pub cursor: u64,
    /// Events after the cursor asked for were pruned: the reader missed some,
    /// and reloads what it shows (as on a broadcast lag), then reads on from
    /// `cursor` (the newest event at the time of this read).
    pub lagged: bool,
}

/// Records `drafts` (not output chunks: those stay on the local broadcast)
/// as the unit's last statements; see the module's notes for the lock.
pub(super) fn record(txn: &PgTxn<'_>, drafts: &[Draft]) -> Result<(), TaskError> {
    let drafts: Vec<&Draft> = drafts
        .iter()
        .filter(|d| !matches!(d.kind, EventKind::Output { .. }))
        .collect();
    if drafts.is_empty() {
        return Ok(());
    }
    let task_ids: Vec<Uuid> = drafts.iter().map(|d| uuid_of(d.task_id)).collect();
    let ats: Vec<DateTime<Utc>> = drafts.iter().map(|d| d.at).collect();
    let kinds = drafts
        .iter()
        .map(|d| encode("event", &d.kind))
        .collect::<Result<Vec<_>, _>>()?;
    // The doorbell is queued with the transaction (sent only at its commit,
    // folded with any other of this transaction's).
    txn.execute(
        "SELECT pg_advisory_xact_lock($1), pg_notify($2, '')",
        &[&EVENTS_LOCK, &EVENTS_CHANNEL],
    )?;
    txn.execute(
        "INSERT INTO baton_events (runner_id, task_id, at, kind)
         SELECT $1, u.task_id, u.at, u.kind
         FROM unnest($2::uuid[], $3::timestamptz[], $4::bytea[]) WITH ORDINALITY
             AS u(task_id, at, kind, n)
         ORDER BY u.n",
        &[&txn.store.inner.runner, &task_ids, &ats, &kinds],
    )?;
    Ok(())
}

impl PgStore {
    /// This store's runner id: the `runner` of the events it records.
    pub fn runner_id(&self) -> Uuid {
        self.inner.runner
    }

    /// The number of the newest committed event (0 if none): where a reader
    /// that has just loaded the current state starts.
    pub fn events_head(&self) -> Result<u64, TaskError> {
        self.read(|c| {
            let row = c.query_one(HEAD, &[]).map_err(db)?;
            Ok(row.get::<_, i64>(0) as u64)
        })
    }

    /// Up to `limit` events committed after `cursor`, in commit order, and
    /// where to read on. Events of this store's own runner count towards
    /// `limit` and move the cursor, but are left out with
    /// [`EventsOf::OtherRunners`].
    pub fn events_after(
        &self,
        cursor: u64,
        limit: usize,
        of: EventsOf,
    ) -> Result<EventPage, TaskError> {
        let after = i64::try_from(cursor).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
        let skip = (of == EventsOf::OtherRunners).then_some(self.inner.runner);
        self.read(|c| {
            // One statement, so one snapshot: the prune mark and the page agree.
            let rows = c
                .query(
                    "SELECT p.through, e.seq, e.runner_id, e.task_id, e.at,
                            CASE WHEN e.runner_id = $3 THEN NULL ELSE e.kind END
                     -- `WHERE one`: the planner then counts one row, not a page's worth
                     FROM (SELECT through FROM baton_events_pruned WHERE one) p
                     LEFT JOIN LATERAL (
                         SELECT * FROM baton_events WHERE seq > $1 ORDER BY seq LIMIT $2
                     ) e ON true
                     ORDER BY e.seq",
                    &[&after, &limit, &skip],
                )
                .map_err(db)?;
            let through = rows.first().map_or(0, |r| r.get::<_, i64>(0));
            if through > after {
                let head = c.query_one(HEAD, &[]).map_err(db)?;
                return Ok(EventPage {
                    events: Vec::new(),
                    cursor: head.get::<_, i64>(0) as u64,
                    lagged: true,
                });
            }
            let mut page = EventPage {
                events: Vec::new(),
                cursor,
                lagged: false,
            };
            for row in &rows {
                let Some(seq) = row.get::<_, Option<i64>>(1) else {
                    continue; // no event after the cursor: the join's empty side
                };
                page.cursor = seq as u64;
                let Some(kind) = row.get::<_, Option<&[u8]>>(5) else {
                    continue; // this runner's own
                };
                // One event this version cannot read (a newer runner's kind,
                // during an upgrade) must not stop every reader at its number.
                let kind: EventKind = match decode("event", kind) {
                    Ok(kind) => kind,
                    Err(e) => {
                        tracing::warn!(seq, error = %e, "skipped an event this Baton cannot read");
                        continue;
                    }
                };
                page.events.push(RemoteEvent {
                    runner: row.get(2),
                    event: Event {
                        seq: seq as u64,
                        at: row.get(4),
                        task_id: TaskId::from_u128(row.get::<_, Uuid>(3).as_u128()),
                        kind,
                    },
                });
            }
            Ok(page)
        })
    }

    /// Removes up to a bounded batch of the oldest events recorded more than
    /// `older_than` ago (on the database's clock; [`EVENT_RETENTION`] is the
    /// default) and answers how many. A reader whose cursor is behind what
    /// was removed is told it lagged. Call it again while it answers a full
    /// batch.
    pub fn prune_events(&self, older_than: Duration) -> Result<usize, TaskError> {
        self.read(|c| {
            let mut txn = c.transaction().map_err(db)?;
            // Locked: the mark only moves forward. A runner that finds another
            // pruning leaves it to that one rather than wait.
            let Some(mark) = txn
                .query_opt(
                    "SELECT through FROM baton_events_pruned FOR UPDATE SKIP LOCKED",
                    &[],
                )
                .map_err(db)?
            else {
                return Ok(0);
            };
            let through: i64 = mark.get(0);
            // From the mark on (the index descends straight past what was
            // removed before), the oldest batch, up to its last old event.
            let gone = txn
                .query(
                    "DELETE FROM baton_events WHERE seq > $1 AND seq <= (
                         SELECT max(seq) FROM (
                             SELECT seq, recorded_at FROM baton_events
                             WHERE seq > $1 ORDER BY seq LIMIT $2
                         ) page
                         WHERE recorded_at < now() - make_interval(secs => $3))
                     RETURNING seq",
                    &[
                        &through,
                        &(PRUNE_EVENTS_BATCH as i64),
                        &older_than.as_secs_f64(),
                    ],
                )
                .map_err(db)?;
            if let Some(last) = gone.iter().map(|r| r.get::<_, i64>(0)).max() {
                txn.execute("UPDATE baton_events_pruned SET through = $1", &[&last])
                    .map_err(db)?;
            }
            txn.commit().map_err(db)?;
            Ok(gone.len())
        })
    }

    /// A doorbell for new events, on a connection of its own.
    pub fn listen(&self) -> Result<PgListener, TaskError> {
        let client = PgListener::connect(&self.inner.config)?;
        Ok(PgListener {
            config: self.inner.config.clone(),
            client: Some(client),
            reconnects: 0,
            retry_in: RECONNECT_DELAYS.0,
        })
    }
}

/// The first and the longest wait between tries to connect the listener again.
const RECONNECT_DELAYS: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(5));

/// `LISTEN baton_events` on a connection of its own. Only shortens a
/// reader's wait: notifications sent while it was disconnected are lost, so
/// after a reconnect [`PgListener::wait`] answers `true` (read now).
pub struct PgListener {
    config: Config,
    client: Option<Client>,
    reconnects: u64,
    retry_in: Duration,
}

impl std::fmt::Debug for PgListener {
    // The config holds the password: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgListener")
            .field("reconnects", &self.reconnects)
            .finish_non_exhaustive()
    }
}

impl PgListener {
    fn connect(config: &Config) -> Result<Client, TaskError> {
        let mut client = config.connect(NoTls).map_err(db)?;
        client
            .batch_execute(&format!("LISTEN {EVENTS_CHANNEL}"))
            .map_err(db)?;
        Ok(client)
    }

    /// Waits up to `timeout` for the doorbell. `true`: events may have been
    /// committed (it rang, or the connection was lost and made again, and a
    /// ring may have been missed): read now. `false`: silence; a reader
    /// still reads (a doorbell is never the only way to learn of events).
    /// A lost connection is made again, with a growing delay while the
    /// database cannot be reached (within `timeout`).
    pub fn wait(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let Some(client) = self.client.as_mut() else {
                match Self::connect(&self.config) {
                    Ok(client) => {
                        tracing::info!("the events listener is connected again");
                        self.client = Some(client);
                        self.reconnects += 1;
                        self.retry_in = RECONNECT_DELAYS.0;
                        return true;
                    }
                    Err(e) => {
                        let left = deadline.saturating_duration_since(Instant::now());
                        tracing::warn!(error = %e, "the events listener cannot connect; trying again");
                        if left.is_zero() {
                            return false;
                        }
                        std::thread::sleep(self.retry_in.min(left));
                        self.retry_in = (self.retry_in * 2).min(RECONNECT_DELAYS.1);
                        continue;
                    }
                }
            };
            let left = deadline.saturating_duration_since(Instant::now());
            let heard = client.notifications().timeout_iter(left).next();
            match heard {
                Ok(Some(_)) => {
                    // Rings queued behind this one say nothing more.
                    while let Ok(Some(_)) = client.notifications().iter().next() {}
                    return true;
                }
                // `None` is also what a closed connection answers.
                Ok(None) if !client.is_closed() => return false,
                Ok(None) => {
                    tracing::warn!("the events listener lost its connection");
                    self.client = None;
                }
                Err(e) => {
                    tracing::warn!(error = %db(e), "the events listener lost its connection");
                    self.client = None;
                }
            }
        }
    }

    /// How many times the connection was made again.
    pub fn reconnects(&self) -> u64 {
        self.reconnects
    }

    /// The server process of the listener's connection (tests kill it).
    #[cfg(test)]
    pub(crate) fn backend_pid(&mut self) -> Option<i32> {
        let client = self.client.as_mut()?;
        client
            .query_one("SELECT pg_backend_pid()", &[])
            .ok()
            .map(|r| r.get(0))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::PgPlace;
    use super::*;
    use crate::backoff::Backoff;
    use crate::lifecycle::tests::{completed, write};
    use crate::lifecycle::{cancel, claim, create, finish, retry, AttemptResult, Ctx};
    use crate::state::TaskState;
    use crate::storage::{Storage, TaskTxn, UnitOfWork};
    use crate::task::Task;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, Ordering};

    const PATIENCE: Duration = Duration::from_secs(10);

    /// Runs `op` in one unit of work, recording its events as the writer
    /// does; a refused operation (it wrote nothing) still commits the unit.
    /// The events committed, as (task, JSON), or none when the unit failed.
    fn unit(
        store: &PgStore,
        rng: &mut StdRng,
        op: impl FnOnce(&mut PgTxn<'_>, &mut Ctx) -> Result<(), TaskError>,
    ) -> Vec<(TaskId, String)> {
        let mut events = Vec::new();
        let Ok(begun) = store.begin() else {
            return Vec::new();
        };
        let mut txn = begun.txn();
        let mut ctx = Ctx {
            now: Utc::now(),
            backoff: Backoff::default(),
            rng,
            events: &mut events,
            schedules: &mut Vec::new(),
        };
        if let Err(TaskError::Storage(_)) = op(&mut txn, &mut ctx) {
            return Vec::new(); // dropped: rolled back
        }
        if txn.record_events(&events).is_err() {
            return Vec::new();
        }
        // A round trip between the insert and the commit, standing in for the
        // commit's WAL flush (off in the test cluster): the window in which a
        // later number could commit first, were the events lock not held.
        if txn.query("SELECT 1", &[]).is_err() {
            return Vec::new();
        }
        match begun.commit() {
            Ok(()) => events.iter().map(|d| (d.task_id, json(&d.kind))).collect(),
            Err(_) => Vec::new(),
        }
    }

    fn json(kind: &EventKind) -> String {
        serde_json::to_string(kind).unwrap()
    }

    /// Every page after `cursor` until one comes back empty.
    fn drain(store: &PgStore, cursor: &mut u64, of: EventsOf) -> Vec<RemoteEvent> {
        let mut seen = Vec::new();
        loop {
            let page = store.events_after(*cursor, 5, of).unwrap();
            assert!(!page.lagged);
            let progressed = page.cursor > *cursor;
            *cursor = page.cursor;
            seen.extend(page.events);
            if !progressed {
                return seen;
            }
        }
    }

    #[test]
    fn a_tailer_sees_every_event_two_writers_commit_on_the_same_tasks_once_and_in_commit_order() {
        const TASKS: usize = 12;
        const OPS: usize = 400;
        let place = PgPlace::new();
        let setup = PgStore::connect(place.config.clone()).unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        let mut committed: HashMap<Uuid, Vec<(TaskId, String)>> = HashMap::new();
        let mut ids = Vec::new();
        for i in 0..TASKS {
            let mut made = None;
            let events = unit(&setup, &mut rng, |txn, ctx| {
                made = Some(create(txn, ctx, Task::sample(&format!("t{i}")))?.id);
                Ok(())
            });
            ids.push(made.unwrap());
            committed
                .entry(setup.runner_id())
                .or_default()
                .extend(events);
        }

        let done = AtomicBool::new(false);
        let (writers, tailed) = std::thread::scope(|scope| {
            let tailer = scope.spawn(|| {
                let reader = PgStore::connect(place.config.clone()).unwrap();
                let mut doorbell = reader.listen().unwrap();
                let (mut cursor, mut seen) = (0, Vec::new());
                loop {
                    // Read `done` before the page: an empty page after it means
                    // every commit has been read.
                    let finished = done.load(Ordering::SeqCst);
                    let page = reader
                        .events_after(cursor, 7, EventsOf::AllRunners)
                        .unwrap();
                    assert!(!page.lagged);
                    let empty = page.cursor == cursor;
                    cursor = page.cursor;
                    seen.extend(page.events);
                    if empty && finished {
                        return seen;
                    }
                    if empty {
                        doorbell.wait(Duration::from_millis(200));
                    }
                }
            });
            let writers: Vec<_> = (0..2u64)
                .map(|w| {
                    let (place, ids) = (&place, &ids);
                    scope.spawn(move || {
                        let store = PgStore::connect(place.config.clone()).unwrap();
                        let mut rng = StdRng::seed_from_u64(10 + w);
                        let mut mine = Vec::new();
                        for _ in 0..OPS {
                            let id = ids[rng.random_range(0..ids.len())];
                            let pick = rng.random_range(0..4);
                            let events = unit(&store, &mut rng, |txn, ctx| match pick {
                                0 => claim(txn, ctx, 2).map(drop),
                                1 => {
                                    // Failed, so a retry brings it back.
                                    let task = txn.require(id)?;
                                    if task.status == TaskState::Running {
                                        let mut outcome = completed(id, task.history.len() as u32);
                                        outcome.result = AttemptResult::Failed {
                                            error: "no".into(),
                                            retryable: false,
                                            retry_after: None,
                                            failure: None,
                                        };
                                        finish(txn, ctx, &outcome)?;
                                    }
                                    Ok(())
                                }
                                2 => cancel(txn, ctx, id, None).map(drop),
                                _ => retry(txn, ctx, id, Some(100)).map(drop),
                            });
                            mine.extend(events);
                        }
                        (store.runner_id(), mine)
                    })
                })
                .collect();
            let writers: Vec<_> = writers.into_iter().map(|w| w.join().unwrap()).collect();
            done.store(true, Ordering::SeqCst);
            (writers, tailer.join().unwrap())
        });
        for (runner, mine) in writers {
            assert!(
                mine.len() > OPS / 4,
                "the writers changed tasks: {}",
                mine.len()
            );
            committed.insert(runner, mine);
        }

        // Exactly once, nothing lost, nothing invented: per runner, the events
        // read are the events its units committed, in its commit order.
        let seqs: Vec<u64> = tailed.iter().map(|e| e.event.seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in outbox order");
        let mut read: HashMap<Uuid, Vec<(TaskId, String)>> = HashMap::new();
        for e in &tailed {
            read.entry(e.runner)
                .or_default()
                .push((e.event.task_id, json(&e.event.kind)));
        }
        assert_eq!(read.len(), committed.len());
        for (runner, events) in &committed {
            assert!(read.get(runner) == Some(events), "runner {runner}'s events");
        }

        // Per task, the states read chain in the order they committed and end
        // at the stored record.
        let store = PgStore::connect(place.config.clone()).unwrap();
        for id in &ids {
            let mut last: Option<&Task> = None;
            for e in tailed.iter().filter(|e| e.event.task_id == *id) {
                if let EventKind::State { from, to, task } = &e.event.kind {
                    assert_eq!(
                        *from,
                        last.map(|t| t.status),
                        "task {id}: {from:?} → {to:?}"
                    );
                    assert_eq!(task.status, *to);
                    last = Some(task);
                }
            }
            assert_eq!(last, store.get(*id).unwrap().as_ref(), "task {id}");
        }
    }

    #[test]
    fn every_kind_of_event_reads_back_as_recorded_and_one_this_version_cannot_read_is_skipped() {
        use crate::budget::{Budget, BudgetPeriod, BudgetScope, BudgetUnit};
        use crate::delivery::{Delivery, DeliveryId, DeliveryStatus, DeliveryTarget};
        use crate::provider::HoldReason;
        use crate::task::ErrorClass;

        let place = PgPlace::new();
        let store = PgStore::connect(place.config.clone()).unwrap();
        let now = Utc::now();
        let task = Task::sample("t");
        let budget = Budget::new(
            "nightly".into(),
            BudgetPeriod::Daily,
            2.0,
            BudgetUnit::Usd,
            BudgetScope::All,
            chrono_tz::UTC,
            now,
        );
        let delivery = Delivery {
            id: DeliveryId::new(),
            task_id: task.id,
            attempt: 1,
            target: DeliveryTarget::File {
                path: "/tmp/answer.md".into(),
            },
            status: DeliveryStatus::Pending,
            attempts: 0,
            created_at: now,
            next_at: None,
            sent_at: None,
            error: None,
        };
        let recorded = vec![
            Draft::state(None, &task, now),
            Draft::held(
                task.id,
                "p",
                HoldReason::RateLimit,
                Some(Duration::from_secs(3)),
                now,
            ),
            Draft::concurrency_lowered(task.id, "p", 2, Duration::from_secs(300), now),
            Draft::budget_warning(task.id, &budget, now),
            Draft::fallback(&task, 0, ErrorClass::RateLimited, false, now),
            Draft::delivery(&delivery, now),
        ];
        let output = Draft {
            at: now,
            task_id: task.id,
            kind: EventKind::Output {
                attempt: 1,
                index: 0,
                chunk: "streamed".into(),
            },
        };
        let mut drafts = recorded.clone();
        drafts.insert(1, output);
        let begun = store.begin().unwrap();
        begun.txn().record_events(&drafts).unwrap();
        begun.commit().unwrap();

        let read = drain(&store, &mut 0, EventsOf::AllRunners);
        let read: Vec<(TaskId, String)> = read
            .iter()
            .map(|e| (e.event.task_id, json(&e.event.kind)))
            .collect();
        let expected: Vec<(TaskId, String)> = recorded
            .iter()
            .map(|d| (d.task_id, json(&d.kind)))
            .collect();
        assert_eq!(read, expected, "every kind but output, as recorded");

        // A newer runner's kind, then a readable event: the reader moves past both.
        let mut cursor = store.events_head().unwrap();
        let mut sql = place.config.connect(NoTls).unwrap();
        sql.execute(
            "INSERT INTO baton_events (runner_id, task_id, at, kind) VALUES ($1, $2, now(), $3)",
            &[
                &Uuid::now_v7(),
                &uuid_of(task.id),
                &br#"{"type":"from_a_newer_baton"}"#.to_vec(),
            ],
        )
        .unwrap();
        let later = write(&store, |txn, ctx| {
            create(txn, ctx, Task::sample("later")).unwrap()
        });
        let read = drain(&store, &mut cursor, EventsOf::AllRunners);
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].event.task_id, later.id);
        assert_eq!(cursor, store.events_head().unwrap());
    }

    #[test]
    fn a_rolled_back_units_events_never_appear() {
        let place = PgPlace::new();
        let store = PgStore::connect(place.config.clone()).unwrap();
        let mut rng = StdRng::seed_from_u64(2);
        let mut cursor = store.events_head().unwrap();

        // Drafted, recorded (numbers taken, the lock held), then rolled back.
        let mut events = Vec::new();
        let begun = store.begin().unwrap();
        let mut txn = begun.txn();
        let mut ctx = Ctx {
            now: Utc::now(),
            backoff: Backoff::default(),
            rng: &mut rng,
            events: &mut events,
            schedules: &mut Vec::new(),
        };
        let lost = create(&mut txn, &mut ctx, Task::sample("lost")).unwrap();
        txn.record_events(&events).unwrap();
        drop(begun);

        let kept = write(&store, |txn, ctx| {
            create(txn, ctx, Task::sample("kept")).unwrap()
        });
        let read = drain(&store, &mut cursor, EventsOf::AllRunners);
        let tasks: Vec<TaskId> = read.iter().map(|e| e.event.task_id).collect();
        assert_eq!(tasks, vec![kept.id]);
        assert!(store.get(lost.id).unwrap().is_none());
    }

    #[test]
    fn a_runner_reads_only_other_runners_events_and_moves_past_its_own() {
        let place = PgPlace::new();
        let a = PgStore::connect(place.config.clone()).unwrap();
        let b = PgStore::connect(place.config.clone()).unwrap();
        let mut cursor = 0;
        let from_a = write(&a, |txn, ctx| create(txn, ctx, Task::sample("a")).unwrap());
        let from_b = write(&b, |txn, ctx| create(txn, ctx, Task::sample("b")).unwrap());
        let read = drain(&a, &mut cursor, EventsOf::OtherRunners);
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].runner, b.runner_id());
        assert_eq!(read[0].event.task_id, from_b.id);
        assert_eq!(cursor, a.events_head().unwrap(), "past its own events too");
        let all = drain(&b, &mut 0, EventsOf::AllRunners);
        let tasks: Vec<TaskId> = all.iter().map(|e| e.event.task_id).collect();
        assert_eq!(tasks, vec![from_a.id, from_b.id]);
    }

    #[test]
    fn a_pruner_that_finds_another_pruning_leaves_it_and_waits_for_nothing() {
        let place = PgPlace::new();
        let store = PgStore::connect(place.config.clone()).unwrap();
        let mut other = place.config.connect(NoTls).unwrap();
        let mut holding = other.transaction().unwrap();
        holding
            .execute("SELECT through FROM baton_events_pruned FOR UPDATE", &[])
            .unwrap();
        let started = std::time::Instant::now();
        assert_eq!(store.prune_events(Duration::ZERO).unwrap(), 0);
        assert!(started.elapsed() < Duration::from_secs(5), "it waited");
        holding.rollback().unwrap();
    }

    #[test]
    fn a_reader_behind_pruned_events_is_told_to_reload_and_reads_on_from_the_head() {
        let place = PgPlace::new();
        let store = PgStore::connect(place.config.clone()).unwrap();
        for i in 0..3 {
            write(&store, |txn, ctx| {
                create(txn, ctx, Task::sample(&format!("t{i}"))).unwrap()
            });
        }
        assert_eq!(
            store.prune_events(EVENT_RETENTION).unwrap(),
            0,
            "young events stay"
        );
        assert_eq!(drain(&store, &mut 0, EventsOf::AllRunners).len(), 3);

        let head = store.events_head().unwrap();
        assert_eq!(store.prune_events(Duration::ZERO).unwrap(), 3);
        let page = store.events_after(0, 10, EventsOf::AllRunners).unwrap();
        assert!(page.lagged, "events after 0 are gone");
        assert!(page.events.is_empty());
        assert_eq!(page.cursor, head, "the head survives pruning");

        let next = write(&store, |txn, ctx| {
            create(txn, ctx, Task::sample("next")).unwrap()
        });
        let page = store.events_after(head, 10, EventsOf::AllRunners).unwrap();
        assert!(!page.lagged);
        assert_eq!(page.events.len(), 1);
        assert_eq!(page.events[0].event.task_id, next.id);
    }

    #[test]
    fn a_listener_whose_connection_is_killed_reconnects_loses_nothing_and_rings_again() {
        let place = PgPlace::new();
        let store = PgStore::connect(place.config.clone()).unwrap();
        let mut listener = store.listen().unwrap();
        let mut cursor = store.events_head().unwrap();
        let create_one = |name: &str| {
            write(&store, |txn, ctx| {
                create(txn, ctx, Task::sample(name)).unwrap()
            })
            .id
        };

        let first = create_one("first");
        assert!(listener.wait(PATIENCE), "the doorbell rings on a commit");
        assert_eq!(listener.reconnects(), 0);
        let read = drain(&store, &mut cursor, EventsOf::AllRunners);
        assert_eq!(
            read.iter().map(|e| e.event.task_id).collect::<Vec<_>>(),
            vec![first]
        );

        // The listener's connection is killed; an event commits meanwhile.
        let pid = listener.backend_pid().unwrap();
        let mut admin = place.config.connect(NoTls).unwrap();
        let killed: bool = admin
            .query_one("SELECT pg_terminate_backend($1)", &[&pid])
            .unwrap()
            .get(0);
        assert!(killed);
        let missed = create_one("while away");
        assert!(listener.wait(PATIENCE), "a reconnect says: read now");
        assert_eq!(listener.reconnects(), 1);
        assert_ne!(listener.backend_pid(), Some(pid));
        let read = drain(&store, &mut cursor, EventsOf::AllRunners);
        assert_eq!(
            read.iter().map(|e| e.event.task_id).collect::<Vec<_>>(),
            vec![missed]
        );

        // The new connection hears the doorbell.
        let after = create_one("after");
        assert!(listener.wait(PATIENCE));
        assert_eq!(listener.reconnects(), 1, "rung, not reconnected");
        let read = drain(&store, &mut cursor, EventsOf::AllRunners);
        assert_eq!(
            read.iter().map(|e| e.event.task_id).collect::<Vec<_>>(),
            vec![after]
        );
        assert!(!listener.wait(Duration::from_millis(50)), "silence");
    }

    #[test]
    fn redb_takes_a_units_events_and_stores_nothing_of_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(&dir.path().join("baton.redb")).unwrap();
        let task = write(&store, |txn, ctx| {
            create(txn, ctx, Task::sample("t")).unwrap()
        });
        let drafts = vec![Draft::state(None, &task, Utc::now())];
        let before = (store.all().unwrap(), store.counts().unwrap());
        let begun = store.begin().unwrap();
        begun.txn().record_events(&drafts).unwrap();
        begun.commit().unwrap();
        assert_eq!((store.all().unwrap(), store.counts().unwrap()), before);
    }
}
