//! What Baton's tests share across crates: a PostgreSQL database of a test's
//! own, made in the cluster `BATON_TEST_DATABASE_URL` names (`scripts/pg.sh`
//! starts a private one; `scripts/test.sh` sets the variable) and dropped
//! after. The engine's conformance suite, the CLI's shared-queue tests and the
//! desktop's IPC tests use it.

use std::sync::atomic::{AtomicU64, Ordering};

/// The variable naming the test cluster's admin URL.
pub const URL_VAR: &str = "BATON_TEST_DATABASE_URL";

/// A database of its own in the test cluster, dropped when this is; kept (and
/// its URL printed) when the test panicked, to look at what it left.
pub struct TestDatabase {
    admin: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// A new empty database, named `baton_{tag}_{pid}_{n}` (unique within the
    /// run; one a process of the same pid left behind is dropped first).
    /// Blocking: call it off an async runtime's threads.
    pub fn new(tag: &str) -> TestDatabase {
        static MADE: AtomicU64 = AtomicU64::new(0);
        let admin = std::env::var(URL_VAR).unwrap_or_else(|_| {
            panic!(
                "{URL_VAR} is not set: run the tests through scripts/test.sh \
                 (it starts a private PostgreSQL cluster and sets it)"
            )
        });
        let name = format!(
            "baton_{tag}_{}_{}",
            std::process::id(),
            MADE.fetch_add(1, Ordering::Relaxed)
        );
        let mut client = postgres::Client::connect(&admin, postgres::NoTls)
            .expect("connect to the test cluster");
        // One statement each: neither runs inside a transaction block.
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .expect("drop a leftover test database");
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create the test database");
        let (server, _) = admin
            .rsplit_once('/')
            .expect("a postgres:// URL names its database");
        let url = format!("{server}/{name}");
        TestDatabase { admin, name, url }
    }

    /// The database's URL, as a user would pass it.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept the database {} of the failed test", self.url);
            return;
        }
        if let Ok(mut client) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = client.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}
