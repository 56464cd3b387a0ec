//! Write OaaS function containers in Rust.
//!
//! A function container is an HTTP server that the runtime calls once per task, following
//! the protocol `oaas-task/1` (docs/protocol.md). This crate does the protocol: register
//! async handlers by class and function, and serve them.
//!
//! ```no_run
//! use oaas_sdk::{Ctx, FnError, Functions, Reply};
//!
//! /// `public mut fn increment(by: int = 1) -> int`
//! async fn increment(ctx: Ctx) -> Result<Reply, FnError> {
//!     let by: i64 = ctx.arg_or("by", 1)?;
//!     let count = ctx.state_field::<i64>("count")?.unwrap_or(0) + by;
//!     Ok(Reply::value(count).set("count", count))
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     Functions::new()
//!         .function("record.Record", "increment", increment)
//!         .serve_from_env() // $PORT
//!         .await
//! }
//! ```
//!
//! - [`Ctx`]: arguments, the object's state and refs, its files ([`Ctx::read_file`],
//!   [`Ctx::write_file`]), and outputs ([`Ctx::output`], [`Ctx::new_output`]).
//! - [`Reply`]: the state patch, the value, the output or outputs.
//! - [`FnError`]: a failure, retryable or not.
//! - [`protocol`]: the documents themselves, for anyone speaking the protocol.

mod ctx;
mod error;
pub mod protocol;
mod reply;
mod server;

pub use ctx::{Ctx, Output};
pub use error::FnError;
pub use reply::Reply;
pub use server::{serve_from_env, Functions};

/// Re-exported so handlers can name JSON values without their own dependency.
pub use serde_json::{json, Map, Value};
