//! The live event stream, `GET /events`: every task event as Server-Sent Events,
//! resumable with `Last-Event-ID`.
//!
//! One pump task takes each engine event, serialises it once, numbers it with
//! the server's own counter and appends it to a ring bounded in count and bytes,
//! then fans it out on a broadcast channel. A subscriber joins under the lock the
//! pump appends under, so the replay it takes from the ring and the live events
//! it receives meet exactly: nothing is lost and nothing is sent twice.
//!
//! Ids are the server's counter, not the engine's `seq` (which stays in the
//! data): the counter follows the order events were delivered in, so "every
//! event after id N" is exact. Ids start at 1 each time the server starts. A
//! `Last-Event-ID` the ring no longer covers — older than its oldest event, or
//! from another run — gets a `resync` event first: the client missed events and
//! should reload with `GET /tasks`. The stream then goes on from the oldest
//! event still held. A pump that lags behind the engine records the gap as a
//! `resync` in the ring, so every subscriber is told at the right place.

use crate::routes::AppState;
use crate::wire::StreamNotice;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

/// Live events a subscriber may fall behind by before it refills from the ring.
const FANOUT_BUFFER: usize = 4096;
/// The ring's byte bound: state events carry the whole task, prompt and output.
const RING_BYTES: usize = 64 * 1024 * 1024;

pub(crate) struct EventLog {
    // A std Mutex: nothing awaits while it is held.
    ring: Mutex<Ring>,
    live: broadcast::Sender<Arc<Entry>>,
}

struct Ring {
    entries: VecDeque<Arc<Entry>>,
    bytes: usize,
    capacity: usize,
    next_id: u64,
    /// The highest id no longer held (0: nothing evicted yet).
    floor: u64,
}

#[derive(Debug)]
pub(crate) struct Entry {
    id: u64,
    /// `None` for a plain task event, else the SSE event name (`resync`).
    name: Option<&'static str>,
    data: String,
}

impl EventLog {
    /// Subscribes to the engine now, so every event from here on is kept.
    pub fn start(
        events: baton_engine::Subscription,
        capacity: usize,
        stop: CancellationToken,
    ) -> (Arc<EventLog>, tokio::task::JoinHandle<()>) {
        let log = Arc::new(EventLog::new(capacity, FANOUT_BUFFER));
        let pump = tokio::spawn(pump(log.clone(), events, stop));
        (log, pump)
    }

    fn new(capacity: usize, fanout: usize) -> EventLog {
        EventLog {
            ring: Mutex::new(Ring {
                entries: VecDeque::new(),
                bytes: 0,
                capacity: capacity.max(1),
                next_id: 1,
                floor: 0,
            }),
            live: broadcast::channel(fanout).0,
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn append(&self, name: Option<&'static str>, data: String) {
        let mut ring = self.ring();
        let entry = Arc::new(Entry {
            id: ring.next_id,
            name,
            data,
        });
        ring.next_id += 1;
        ring.bytes += entry.data.len();
        ring.entries.push_back(entry.clone());
        while ring.entries.len() > ring.capacity
            || (ring.bytes > RING_BYTES && ring.entries.len() > 1)
        {
            let Some(old) = ring.entries.pop_front() else {
                break;
            };
            ring.bytes -= old.data.len();
            ring.floor = old.id;
        }
        // Sent under the lock, so the channel's order is the ids' order. No
        // subscriber is not an error.
        let _ = self.live.send(entry);
    }

    /// What a subscriber resuming after `last` gets from the ring, and whether
    /// it missed events the ring no longer has.
    fn since(ring: &Ring, last: u64) -> (bool, VecDeque<Arc<Entry>>) {
        let newest = ring.next_id - 1;
        if last >= ring.floor && last <= newest {
            let start = ring.entries.partition_point(|e| e.id <= last);
            (false, ring.entries.range(start..).cloned().collect())
        } else {
            (true, ring.entries.iter().cloned().collect())
        }
    }

    /// A new subscriber. `last` is the `Last-Event-ID` header: absent means live
    /// events only; `Some(None)` is an id that is not one of ours.
    fn subscribe(self: &Arc<Self>, last: Option<Option<u64>>) -> Subscriber {
        let ring = self.ring();
        let live = self.live.subscribe();
        let (missed, replay) = match last {
            None => (false, VecDeque::new()),
            Some(None) => Self::since(&ring, u64::MAX),
            Some(Some(id)) => Self::since(&ring, id),
        };
        let last_sent = replay.front().map(|e| e.id - 1).unwrap_or(ring.next_id - 1);
        drop(ring);
        Subscriber {
            log: self.clone(),
            live,
            replay,
            last_sent,
            notice: missed.then(|| resync("events were missed: the id given is older than the events kept, or from an earlier run")),
            greeted: false,
        }
    }
}

async fn pump(log: Arc<EventLog>, mut events: baton_engine::Subscription, stop: CancellationToken) {
    loop {
        let received = tokio::select! {
            () = stop.cancelled() => return,
            received = events.recv() => received,
        };
        match received {
            Ok(event) => match serde_json::to_string(&event) {
                Ok(data) => log.append(None, data),
                Err(e) => tracing::error!(seq = event.seq, "cannot serialise an event: {e}"),
            },
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "the API fell behind the engine's events");
                log.append(
                    Some("resync"),
                    notice_json(&resync(&format!(
                        "the server fell behind and dropped {n} events"
                    ))),
                );
            }
            Err(RecvError::Closed) => return,
        }
    }
}

fn resync(why: &str) -> StreamNotice {
    StreamNotice {
        kind: "resync".into(),
        message: format!("{why}; reload the tasks with GET /tasks"),
    }
}

fn notice_json(notice: &StreamNotice) -> String {
    serde_json::to_string(notice).unwrap_or_default()
}

struct Subscriber {
    log: Arc<EventLog>,
    live: broadcast::Receiver<Arc<Entry>>,
    /// Held events still to send before the live ones.
    replay: VecDeque<Arc<Entry>>,
    /// The id of the last event sent; later copies from `live` are skipped.
    last_sent: u64,
    notice: Option<StreamNotice>,
    greeted: bool,
}

/// What a subscriber sends next.
#[derive(Debug)]
enum Next {
    /// A comment, sent at once so a client knows it is subscribed.
    Greeting,
    /// Events were missed (not a ring entry: it has no id).
    Missed(StreamNotice),
    /// A held event: a task event, or a `resync` the pump recorded.
    Entry(Arc<Entry>),
    /// The server is stopping.
    End,
}

impl Subscriber {
    async fn next(&mut self, stop: &CancellationToken) -> Next {
        if !self.greeted {
            self.greeted = true;
            return Next::Greeting;
        }
        if let Some(notice) = self.notice.take() {
            return Next::Missed(notice);
        }
        loop {
            if let Some(entry) = self.replay.pop_front() {
                if entry.id > self.last_sent {
                    self.last_sent = entry.id;
                    return Next::Entry(entry);
                }
                continue;
            }
            let received = tokio::select! {
                biased;
                () = stop.cancelled() => return Next::End,
                received = self.live.recv() => received,
            };
            match received {
                Ok(entry) if entry.id > self.last_sent => {
                    self.last_sent = entry.id;
                    return Next::Entry(entry);
                }
                Ok(_) => continue,
                // Too slow for the channel: take the rest from the ring if it still
                // has it, else say what was missed and go on from the oldest held.
                Err(RecvError::Lagged(_)) => {
                    let (missed, replay) = EventLog::since(&self.log.ring(), self.last_sent);
                    self.replay = replay;
                    if missed {
                        if let Some(first) = self.replay.front() {
                            self.last_sent = first.id - 1;
                        }
                        return Next::Missed(resync("this stream fell behind the events kept"));
                    }
                }
                Err(RecvError::Closed) => return Next::End,
            }
        }
    }
}

impl Next {
    fn into_sse(self) -> SseEvent {
        match self {
            Next::Greeting => SseEvent::default()
                .comment("baton events")
                .retry(Duration::from_secs(1)),
            Next::Missed(notice) => SseEvent::default()
                .event(notice.kind.clone())
                .data(notice_json(&notice)),
            Next::Entry(entry) => {
                let event = SseEvent::default()
                    .id(entry.id.to_string())
                    .data(&entry.data);
                match entry.name {
                    Some(name) => event.event(name),
                    None => event,
                }
            }
            Next::End => {
                let notice = StreamNotice {
                    kind: "shutdown".into(),
                    message: "the server is stopping".into(),
                };
                SseEvent::default()
                    .event("shutdown")
                    .data(notice_json(&notice))
            }
        }
    }
}

/// `GET /events`
#[utoipa::path(
    get,
    path = "/events",
    tag = "events",
    params(
        ("Last-Event-ID" = Option<String>, Header,
         description = "Resume after this event id (the SSE `id` of the last event received). \
                        Ids are the server's counter and start at 1 each time the server starts."),
    ),
    responses(
        (status = 200, content_type = "text/event-stream",
         description = "Server-Sent Events. Each task event has an `id` and JSON `data` \
                        (schema `StreamEvent`). `event: resync` (data `StreamNotice`) says events \
                        were missed: reload with `GET /tasks`. `event: shutdown` precedes the end \
                        of the stream when the server stops.",
         body = String),
        (status = 401, description = "no or wrong token", body = crate::wire::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let last = headers
        .get("last-event-id")
        .map(|v| v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()));
    let subscriber = state.events.subscribe(last);
    let stop = state.stop.clone();
    let stream = futures::stream::unfold(
        (subscriber, stop, false),
        |(mut subscriber, stop, ended)| async move {
            if ended {
                return None;
            }
            let next = subscriber.next(&stop).await;
            // The shutdown notice is the last word, so a client can tell a stop
            // from a lost connection.
            let ended = matches!(next, Next::End);
            Some((Ok(next.into_sse()), (subscriber, stop, ended)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids of what a subscriber sends until it would wait; `0` marks a missed notice.
    async fn drain(subscriber: &mut Subscriber) -> Vec<u64> {
        let stop = CancellationToken::new();
        let mut ids = Vec::new();
        loop {
            let next = tokio::time::timeout(Duration::from_millis(50), subscriber.next(&stop));
            match next.await {
                Ok(Next::Greeting) => {}
                Ok(Next::Missed(_)) => ids.push(0),
                Ok(Next::Entry(entry)) => ids.push(entry.id),
                Ok(Next::End) | Err(_) => return ids,
            }
        }
    }

    fn append(log: &EventLog, n: usize) {
        for i in 0..n {
            log.append(None, format!("{{\"n\":{i}}}"));
        }
    }

    #[tokio::test]
    async fn a_subscriber_too_slow_for_the_channel_refills_from_the_ring_without_a_gap() {
        let log = Arc::new(EventLog::new(100, 4));
        let mut slow = log.subscribe(None);
        append(&log, 20);
        assert_eq!(drain(&mut slow).await, (1..=20).collect::<Vec<_>>());
        append(&log, 3);
        assert_eq!(drain(&mut slow).await, [21, 22, 23]);
    }

    #[tokio::test]
    async fn a_subscriber_behind_the_ring_is_told_then_gets_what_is_held() {
        let log = Arc::new(EventLog::new(8, 4));
        let mut slow = log.subscribe(None);
        append(&log, 20);
        let mut want = vec![0];
        want.extend(13..=20);
        assert_eq!(drain(&mut slow).await, want);
    }

    #[tokio::test]
    async fn resuming_replays_exactly_what_follows_the_id() {
        let log = Arc::new(EventLog::new(8, 64));
        append(&log, 10);
        assert_eq!(drain(&mut log.subscribe(Some(Some(7)))).await, [8, 9, 10]);
        assert_eq!(
            drain(&mut log.subscribe(Some(Some(10)))).await,
            Vec::<u64>::new()
        );
        // 2 is older than the oldest held (3): missed.
        let mut want = vec![0];
        want.extend(3..=10);
        assert_eq!(drain(&mut log.subscribe(Some(Some(1)))).await, want);
        assert_eq!(
            drain(&mut log.subscribe(Some(Some(2)))).await,
            (3..=10).collect::<Vec<_>>()
        );
        assert_eq!(
            drain(&mut log.subscribe(Some(Some(11)))).await[0],
            0,
            "from another run"
        );
        assert_eq!(
            drain(&mut log.subscribe(Some(None))).await[0],
            0,
            "not an id of ours"
        );
        assert_eq!(
            drain(&mut log.subscribe(None)).await,
            Vec::<u64>::new(),
            "live only"
        );
    }

    #[tokio::test]
    async fn a_gap_the_pump_records_reaches_every_subscriber_in_place() {
        let log = Arc::new(EventLog::new(100, 64));
        let mut live = log.subscribe(None);
        append(&log, 2);
        log.append(Some("resync"), notice_json(&resync("test")));
        append(&log, 1);
        let stop = CancellationToken::new();
        let mut names = Vec::new();
        for _ in 0..5 {
            if let Next::Entry(entry) = live.next(&stop).await {
                names.push((entry.id, entry.name));
            }
        }
        assert_eq!(
            names,
            [(1, None), (2, None), (3, Some("resync")), (4, None)]
        );
    }
}
