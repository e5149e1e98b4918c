//! The log both Baton processes write: stderr, and a daily file in the data
//! directory's `logs/` (seven kept), filtered by `BATON_LOG` (default `info`).

/// Logs to stderr and to a daily-rotated file in `log_dir` (seven days kept).
pub fn init(log_dir: &std::path::Path) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::EnvFilter;
    let filter = || EnvFilter::try_from_env("BATON_LOG").unwrap_or_else(|_| "info".into());
    let _ = std::fs::create_dir_all(log_dir);
    let file = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("baton")
        .filename_suffix("log")
        .max_log_files(7)
        .build(log_dir)
        .ok();
    let (file_layer, guard) = match file {
        Some(appender) => {
            let (writer, guard) = tracing_appender::non_blocking(appender);
            (
                Some(
                    tracing_subscriber::fmt::layer()
                        .with_ansi(false)
                        .with_writer(writer)
                        .with_filter(filter()),
                ),
                Some(guard),
            )
        }
        None => (None, None),
    };
    // try_init: a second subscriber (a test harness) is not an error.
    let _ = tracing_subscriber::registry()
        // No colours on stderr either: layers share formatted span fields, and
        // escape codes must not reach the log file.
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(std::io::stderr)
                .with_filter(filter()),
        )
        .with(file_layer)
        .try_init();
    guard
}
