//! State shared by the writer, the scheduler, the dispatcher and the executors.
//! What decides whether a task may start (slots, pause, provider limits) is
//! not here: the dispatcher owns it ([`crate::pool`]).

use crate::events::EventBus;
use crate::health::Health;
use crate::task::TaskId;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

pub(crate) struct Shared {
    pub events: EventBus,
    /// Something became scheduled: the next due time may be earlier.
    pub wake_scheduler: Notify,
    /// A delivery became pending: the deliverer's wake-up.
    pub wake_deliverer: Notify,
    /// Something became queued (the writer), or a provider's concurrency
    /// freed (the limiter): the dispatcher's wake-up.
    pub wake_dispatcher: Arc<Notify>,
    /// Cancellation of each running attempt. A std Mutex: nothing awaits while
    /// it is held.
    running: Mutex<HashMap<(TaskId, u32), CancellationToken>>,
    /// Write transactions committed, and the requests they carried.
    pub commits: AtomicU64,
    pub committed_requests: AtomicU64,
    /// Whether writes commit; only the writer changes it.
    pub health: watch::Sender<Health>,
    /// Batch tasks that became `scheduled` (waiting for a batch), for the batch
    /// loop, which `wake_batcher` wakes. The writer fills it after a commit.
    pub batch_waiting: Mutex<Vec<TaskId>>,
    /// Running attempts of provider batches this runner took over from one
    /// that is gone (its rescue fills it): the batch loop polls them.
    pub batch_adopted: Mutex<Vec<crate::task::Task>>,
    pub wake_batcher: Notify,
    /// Whether this runner may start provider calls (see `runner`).
    pub lease: crate::runner::Lease,
    /// How far a shared queue's database clock is ahead of this machine's, in
    /// milliseconds (its heartbeat measures it; zero on redb): the writer reads
    /// "now" on the database's clock, so every runner fires a schedule's times
    /// and promotes due tasks at the same moments.
    pub db_clock_ahead_ms: std::sync::atomic::AtomicI64,
}

impl Shared {
    pub fn new() -> Self {
        Shared {
            events: EventBus::new(),
            wake_scheduler: Notify::new(),
            wake_deliverer: Notify::new(),
            wake_dispatcher: Arc::new(Notify::new()),
            running: Mutex::new(HashMap::new()),
            commits: AtomicU64::new(0),
            committed_requests: AtomicU64::new(0),
            health: watch::Sender::new(Health::Ok),
            batch_waiting: Mutex::new(Vec::new()),
            batch_adopted: Mutex::new(Vec::new()),
            wake_batcher: Notify::new(),
            lease: crate::runner::Lease::unlimited(),
            db_clock_ahead_ms: std::sync::atomic::AtomicI64::new(0),
        }
    }

    /// Hands batch tasks waiting for a batch (`waiting`) and attempts taken
    /// over from a gone runner (`adopted`) to the batch loop, and wakes it
    /// (the wake-up is kept if the loop has not started yet).
    pub fn to_batcher(&self, waiting: Vec<TaskId>, adopted: Vec<crate::task::Task>) {
        if waiting.is_empty() && adopted.is_empty() {
            return;
        }
        (self.batch_waiting.lock().unwrap_or_else(|e| e.into_inner())).extend(waiting);
        (self.batch_adopted.lock().unwrap_or_else(|e| e.into_inner())).extend(adopted);
        self.wake_batcher.notify_one();
    }

    /// The token the executor of claim `claim_no` of task `id` watches. If the cancel
    /// committed before the executor got here, the token is already cancelled.
    /// Keyed by claim too, so a cancelled claim's token never reaches a later claim of
    /// the same task (cancel → retry → claim).
    pub fn watch_running(&self, id: TaskId, claim_no: u32) -> CancellationToken {
        self.lock().entry((id, claim_no)).or_default().clone()
    }

    /// Called by the executor once its outcome is reported (or abandoned).
    pub fn forget_running(&self, id: TaskId, claim_no: u32) {
        self.lock().remove(&(id, claim_no));
    }

    /// Called by the writer after a cancel of a running task committed. The
    /// executor removes the entry afterwards, so this never leaves one behind.
    pub fn abort_running(&self, id: TaskId, claim_no: u32) {
        self.lock().entry((id, claim_no)).or_default().cancel();
    }

    /// A cancel another process committed: aborts this process's attempt of
    /// that claim if it runs one. Unlike [`Shared::abort_running`] it leaves
    /// no entry for an attempt that runs elsewhere (nobody would remove it).
    pub fn abort_if_running(&self, id: TaskId, claim_no: u32) {
        if let Some(token) = self.lock().get(&(id, claim_no)) {
            token.cancel();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(TaskId, u32), CancellationToken>> {
        // A poisoned map is still a valid map: every operation on it is one call.
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}
