//! A connection with the statements it has prepared.
//!
//! The `postgres` crate prepares a `&str` statement anew on every call: a
//! round trip of its own, and the server parsing and planning it again. A
//! runner sends the same dozen statements for every task, so each pooled
//! connection keeps them prepared (the way `tokio-postgres`'s users and
//! pgx's statement cache do). Statements are keyed by their text; a
//! connection made again (after the server restarted) starts empty.

use postgres::types::ToSql;
use postgres::{Client, Row, Statement};
use std::collections::HashMap;

/// At most this many statements per connection. The engine's SQL is fixed
/// text; the bound only keeps a mistake (text built per call) from growing
/// the server's memory without end.
const MOST_PREPARED: usize = 128;

/// A [`Client`] and its prepared statements. Its `query`, `query_one`,
/// `query_opt` and `execute` shadow the client's (through `Deref`) and use
/// the cache; everything else is the client's own.
pub(crate) struct Conn {
    client: Client,
    prepared: HashMap<String, Statement>,
}

impl Conn {
    pub(crate) fn new(client: Client) -> Self {
        Conn {
            client,
            prepared: HashMap::new(),
        }
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.prepared.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        if self.prepared.len() >= MOST_PREPARED {
            // Dropping a Statement closes it on the server.
            self.prepared.clear();
        }
        self.prepared.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    /// Runs `call` with `sql` prepared (once per connection). A failed
    /// statement is prepared again next time: after a migration a plan may no
    /// longer fit its tables ("cached plan must not change result type").
    fn run<T>(
        &mut self,
        sql: &str,
        call: impl FnOnce(&mut Client, &Statement) -> Result<T, postgres::Error>,
    ) -> Result<T, postgres::Error> {
        let statement = self.statement(sql)?;
        let out = call(&mut self.client, &statement);
        if out.is_err() {
            self.prepared.remove(sql);
        }
        out
    }

    pub(crate) fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, postgres::Error> {
        self.run(sql, |client, statement| client.query(statement, params))
    }

    pub(crate) fn query_one(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, postgres::Error> {
        self.run(sql, |client, statement| client.query_one(statement, params))
    }

    pub(crate) fn query_opt(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, postgres::Error> {
        self.run(sql, |client, statement| client.query_opt(statement, params))
    }

    pub(crate) fn execute(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, postgres::Error> {
        self.run(sql, |client, statement| client.execute(statement, params))
    }

    /// How many statements this connection holds prepared (tests).
    #[cfg(test)]
    pub(crate) fn prepared(&self) -> usize {
        self.prepared.len()
    }
}

impl std::ops::Deref for Conn {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}
