//! `cargo bench -p baton-engine --bench lifecycle`: the engine's speed and memory,
//! printed as one table. docs/PERFORMANCE.md records a run and reads it.
//!
//! # Layout
//! - `throughput`: durable lifecycles per second, the engine against raw redb
//!   batched like it (two ways), rounds alternating in one run.
//! - `lateness`: how late scheduled tasks start.
//! - `reads`: `list` and `get` with 100,000 tasks stored.
//!
//! A plain binary (`harness = false`) rather than criterion: each figure is a
//! whole-engine run of seconds, and the comparison that matters is the ratio
//! between two sides measured in the same run on a shared, noisy machine.
//! Set `BATON_BENCH_QUICK=1` for a smaller run that only checks the bench works,
//! and `BATON_BENCH_ONLY=throughput|lateness|reads` to run one section (profiling).
//! `BATON_BENCH_ONLY=burst` runs only the burst of section 2, fifteen times: its
//! lateness moves a few ms from run to run, and comparing codes needs many runs.

mod lateness;
mod reads;
mod throughput;

use baton_engine::NewTask;
use std::time::{Duration, Instant};

/// Sizes of one run; the full run stays under about three minutes on two cores.
pub struct Sizes {
    pub lifecycle_tasks: usize,
    pub rounds: usize,
    pub fsync_floor_tasks: usize,
    pub scheduled_tasks: usize,
    pub spread: Duration,
    pub stored_tasks: usize,
    pub list_calls: usize,
    pub get_calls: usize,
    /// Runs of `BATON_BENCH_ONLY=burst`.
    pub bursts: usize,
}

impl Sizes {
    fn from_env() -> Sizes {
        if std::env::var_os("BATON_BENCH_QUICK").is_some() {
            Sizes {
                lifecycle_tasks: 1_000,
                rounds: 1,
                fsync_floor_tasks: 50,
                scheduled_tasks: 200,
                spread: Duration::from_secs(1),
                stored_tasks: 5_000,
                list_calls: 50,
                get_calls: 500,
                bursts: 2,
            }
        } else {
            Sizes {
                lifecycle_tasks: 5_000,
                rounds: 9,
                fsync_floor_tasks: 300,
                scheduled_tasks: 1_000,
                spread: Duration::from_secs(10),
                stored_tasks: 100_000,
                list_calls: 500,
                get_calls: 10_000,
                bursts: 15,
            }
        }
    }
}

fn main() {
    let sizes = Sizes::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let started = Instant::now();
    println!(
        "baton-engine lifecycle bench: {} cores, tokio multi-thread runtime",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let only = std::env::var("BATON_BENCH_ONLY").ok();
    let runs = |section: &str| only.as_deref().is_none_or(|o| o == section);
    runtime.block_on(async {
        if runs("throughput") {
            reset_peak_rss();
            throughput::run(&sizes).await.print();
            println!("peak RSS during section 1: {}", peak_rss());
        }
        if runs("lateness") {
            reset_peak_rss();
            lateness::run(&sizes).await.print();
            println!("peak RSS during section 2: {}", peak_rss());
        }
        // Not part of a whole run: the bursts are case (a) of section 2, repeated.
        if only.as_deref() == Some("burst") {
            lateness::bursts(&sizes).await.print();
        }
        if runs("reads") {
            reset_peak_rss();
            reads::run(&sizes).await.print();
            println!("peak RSS during section 3: {}", peak_rss());
        }
    });
    println!("\nwhole run: {:.1} s", started.elapsed().as_secs_f64());
}

/// A task like the ones a person submits: a short prompt for the mock's `echo`.
pub fn echo_task(i: usize) -> NewTask {
    NewTask {
        prompt: format!("Summarise report #{i} in three bullet points for the weekly review."),
        model: Some("echo".into()),
        ..NewTask::default()
    }
}

/// Starts a new peak-RSS window (Linux ≥ 4.0: writing 5 to `clear_refs` resets
/// VmHWM to the current RSS). Where that is refused, peaks are since start.
fn reset_peak_rss() {
    if std::fs::write("/proc/self/clear_refs", "5").is_err() {
        println!("(could not reset the peak RSS: figures are since the process started)");
    }
}

/// The process's peak resident set (VmHWM), as `/proc/self/status` reports it.
pub fn peak_rss() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|kb| kb.trim().parse::<u64>().ok())
        .map_or_else(
            || "unknown".into(),
            |kb| format!("{:.1} MiB", kb as f64 / 1024.0),
        )
}

/// Mean, percentiles and maximum of a sample.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    pub min: f64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Summary {
    pub fn of(mut values: Vec<f64>) -> Summary {
        assert!(!values.is_empty(), "an empty sample");
        values.sort_by(f64::total_cmp);
        // Nearest rank: the smallest value with at least q of the sample at or below it.
        let rank = |q: f64| values[((q * values.len() as f64).ceil() as usize).max(1) - 1];
        Summary {
            n: values.len(),
            mean: values.iter().sum::<f64>() / values.len() as f64,
            min: values[0],
            p50: rank(0.50),
            p99: rank(0.99),
            max: values[values.len() - 1],
        }
    }
}

/// The middle value (the lower middle for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[(sorted.len() - 1) / 2]
}

pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
