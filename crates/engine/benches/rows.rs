//! `cargo bench -p baton-engine --bench rows`: a map's input, 100,000 CSV rows
//! of four columns (about 11 MB), parsed whole as `baton map --csv` parses it,
//! and the results of 100,000 rows written as CSV and JSONL. Before criterion
//! runs, one parse prints the memory the parsed rows hold (VmRSS from /proc,
//! Linux) next to the input's size. docs/PERFORMANCE.md ("Map input") records a run.

use baton_engine::{parse_rows, write_results, ResultFormat, RowSource, Task};
use criterion::{criterion_group, Criterion};
use std::hint::black_box;
use std::time::{Duration, Instant};

const ROWS: usize = 100_000;

/// A spreadsheet someone would map a prompt over: an id, a name, a city with a
/// comma now and then (so quoted), and a question.
fn csv_text() -> String {
    let mut text = String::from("id,name,city,question\n");
    for i in 0..ROWS {
        let city = if i % 7 == 0 {
            "\"Paris, France\""
        } else {
            "Lyon"
        };
        text.push_str(&format!(
            "{i},Customer number {i},{city},What did customer {i} say about the delivery of order {} last week?\n",
            i * 31 % 9973
        ));
    }
    text
}

/// The process's resident memory in kB, from /proc (0 elsewhere).
fn rss_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn memory_report(text: &str) {
    let before = rss_kb("VmRSS:");
    let start = Instant::now();
    let rows = parse_rows(RowSource::Csv, text).expect("the generated CSV parses");
    let took = start.elapsed();
    let after = rss_kb("VmRSS:");
    println!(
        "map input: {} rows, {:.1} MB of CSV parsed in {:.0} ms (one cold run); the parsed rows hold {:.0} MB (RSS {} -> {} kB, peak {} kB)",
        rows.rows.len(),
        text.len() as f64 / 1e6,
        took.as_secs_f64() * 1e3,
        after.saturating_sub(before) as f64 / 1024.0,
        before,
        after,
        rss_kb("VmHWM:")
    );
    drop(rows);
}

fn bench(c: &mut Criterion) {
    let text = csv_text();
    let mut group = c.benchmark_group("map_input");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("parse_100k_csv_rows", |b| {
        b.iter(|| parse_rows(RowSource::Csv, black_box(&text)).unwrap())
    });
    let rows = parse_rows(RowSource::Csv, &text).unwrap();
    let mut task: Task = serde_json::from_value(serde_json::json!({
        "id": "0192b6a0-0000-7000-8000-000000000000",
        "name": "row", "prompt": "p", "status": "completed",
        "start_at": null, "created_at": "2026-01-01T00:00:00Z",
        "started_at": null, "finished_at": null, "output": "An answer of a few sentences, as a model writes it.",
        "error": null, "parent_task_id": null, "llm_provider": "mock", "llm_model": "echo",
        "latency_ms": 10, "attempts": 1, "max_attempts": 3, "timeout_ms": 1000,
        "cancel_reason": null, "history": []
    }))
    .expect("a task record");
    task.prompt_tokens = Some(40);
    task.completion_tokens = Some(120);
    for (format, name) in [
        (ResultFormat::Csv, "export_100k_rows_csv"),
        (ResultFormat::Jsonl, "export_100k_rows_jsonl"),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                write_results(
                    format,
                    &rows.columns,
                    rows.rows.iter().map(|r| (r, &task)),
                    std::io::sink(),
                )
                .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    memory_report(&csv_text());
    benches();
    Criterion::default().configure_from_args().final_summary();
}
