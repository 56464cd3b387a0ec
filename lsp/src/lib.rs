//! The `.oaas` language server: a thin adapter from the Language Server Protocol to the
//! compiler. All language knowledge (parsing, checking, formatting) lives in
//! `oaas-compiler`; this crate converts positions, looks names up in the analysis and
//! answers requests.
//!
//! ```text
//! editor --JSON-RPC--> server (main loop) --texts--> Workspace::check() --> Snapshot
//!                         ^                                                 |
//!                         +---- diagnostics, hover, definition, ... <-------+
//! ```
//!
//! Started by `oaasc lsp` over stdio; tests drive [`run`] over `Connection::memory()`.

mod complete;
pub mod convert;
mod describe;
mod documents;
mod index;
mod navigate;
mod server;
mod snapshot;
mod symbols;

pub use lsp_server::Connection;
pub use server::{capabilities, run};

/// Runs the server over standard input and output until the client says `exit`.
pub fn run_stdio() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (connection, io_threads) = Connection::stdio();
    run(connection)?;
    io_threads.join()?;
    Ok(())
}
