#![doc = include_str!("../README.md")]
//!
//! # Layout
//! - `server`: [`ApiServer::start`], [`ApiOptions`], [`RunningApi`] (shutdown).
//! - `routes`: the router and the task and schedule endpoints, one engine call each.
//! - `providers`: the provider endpoints, and local servers found and added.
//! - `events`: `GET /events`: the event ring, fan-out, `Last-Event-ID` resume.
//! - `guard`: loopback peer, Host header and bearer token, checked before routing.
//! - `extract`: JSON bodies and ids, refused with the error contract.
//! - `wire`: request and response bodies (shared with the CLI's client).
//! - `openapi`: the document; the engine's types derive their own schemas
//!   (the engine's `utoipa` feature).
//! - `token`, `discovery`: the `api-token` and `api.json` files.
//! - `sse`: a client-side Server-Sent Events reader.
//! - `error`: [`ApiError`] (starting) and [`HttpError`] (answers).

mod budgets;
mod deliveries;
mod discovery;
mod error;
mod events;
mod extract;
mod groups;
mod guard;
mod openapi;
mod providers;
mod routes;
mod server;
mod sse;
mod token;
pub mod wire;

pub use discovery::{pid_alive, Discovery, DISCOVERY_FILE};
pub use error::{ApiError, HttpError};
pub use openapi::{openapi, openapi_json};
pub use providers::BUILTIN_PROVIDERS;
pub use routes::{DEFAULT_PAGE, IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED, MAX_PAGE, NEXT_CURSOR};
pub use server::{
    ApiOptions, ApiServer, RunningApi, DEFAULT_BODY_LIMIT, DEFAULT_IMPORT_LIMIT,
    DEFAULT_REPLAY_EVENTS,
};
pub use sse::{SseMessage, SseParser};
pub use token::{read_token, TOKEN_FILE};
