//! Logs on stderr, filtered by `BATON_LOG`, and panics turned into log lines.
//!
//! The engine opens a `task{task_id=…}` span around each attempt, so every line
//! about a task carries its id without help from here.

use indicatif::ProgressBar;
use std::io::Write;
use std::sync::Mutex;
use tracing_subscriber::EnvFilter;

/// The progress bar `wait` draws, if any: log lines are printed above it
/// instead of through it.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// `default_level` applies when `BATON_LOG` is unset; an invalid `BATON_LOG`
/// keeps its valid directives rather than stopping the command.
pub fn init(default_level: &str) {
    let filter = EnvFilter::builder()
        .with_env_var("BATON_LOG")
        .with_default_directive(
            default_level
                .parse()
                .unwrap_or_else(|_| tracing::Level::WARN.into()),
        )
        .from_env_lossy();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| BarAwareStderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    install_panic_hook();
}

/// Routes log lines around the progress bar while `bar` lives.
pub fn attach_bar(bar: Option<ProgressBar>) {
    *BAR.lock().unwrap_or_else(|e| e.into_inner()) = bar;
}

/// The fmt layer writes each event with one `write_all`, so suspending the bar
/// per write keeps lines whole.
struct BarAwareStderr;

impl Write for BarAwareStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // Cloned out so the lock is not held while drawing.
        let bar = BAR.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf))?,
            None => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Replaces the default panic message (and its backtrace hint) with a log line.
/// The engine catches a provider's panic and fails that attempt; the line says
/// where it happened. A panic on the main thread is reported by `main` instead.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        if std::thread::current().name() == Some("main") {
            return;
        }
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(%location, "panic: {}", panic_message(info.payload()));
    }));
}

pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "an unknown panic".into())
}
