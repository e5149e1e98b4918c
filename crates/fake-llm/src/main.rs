//! `fake-llm [--port P] [--ttft-ms MS] [--chunks N] [--chunk-ms MS]`: serves
//! every request with the same streamed reply until killed. For benchmarks.

use fake_llm::{FakeServer, Reply};
use std::time::Duration;

fn main() {
    let mut port = 0u16;
    let (mut ttft, mut chunks, mut chunk_ms) = (200u64, 50usize, 10u64);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{flag} needs a whole number"))
        };
        match flag.as_str() {
            "--port" => port = value() as u16,
            "--ttft-ms" => ttft = value(),
            "--chunks" => chunks = value() as usize,
            "--chunk-ms" => chunk_ms = value(),
            other => panic!("unknown flag {other}"),
        }
    }
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(async {
        let reply = Reply::words(chunks)
            .ttft(Duration::from_millis(ttft))
            .chunk_delay(Duration::from_millis(chunk_ms));
        let server = FakeServer::start_on(([127, 0, 0, 1], port).into(), reply)
            .await
            .expect("bind");
        println!("listening on {}", server.url());
        std::future::pending::<()>().await;
    });
}
