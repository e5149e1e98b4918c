//! Wall-clock time for the engine, controllable in tests.
//!
//! Timestamps are wall-clock (`DateTime<Utc>`) while timers are tokio's. The
//! system clock reads the OS clock; the tokio clock derives wall time from
//! `tokio::time::Instant`, so a test with a paused runtime controls both at once.

use chrono::{DateTime, Utc};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// The OS's clock.
    System,
    /// Wall time = `wall` + time elapsed on tokio's clock since `at`.
    Tokio { wall: DateTime<Utc>, at: Instant },
}

impl Clock {
    /// A clock that follows tokio's (possibly paused) time, starting at the real now.
    pub fn tokio() -> Self {
        Clock::Tokio {
            wall: Utc::now(),
            at: Instant::now(),
        }
    }

    /// A clock that follows tokio's (possibly paused) time, starting at `wall`:
    /// tests put the engine on a chosen day (a daylight-saving change, say).
    pub fn tokio_at(wall: DateTime<Utc>) -> Self {
        Clock::Tokio {
            wall,
            at: Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Tokio { wall, at } => {
                *wall + chrono::Duration::from_std(at.elapsed()).unwrap_or(chrono::Duration::MAX)
            }
        }
    }

    /// How long until `when`, zero if it has passed.
    pub fn until(&self, when: DateTime<Utc>) -> Duration {
        (when - self.now()).to_std().unwrap_or(Duration::ZERO)
    }
}
