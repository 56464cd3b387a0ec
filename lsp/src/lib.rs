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
//! Started by `oaasc lsp` over stdio, framed by [`transport`] within limits; tests drive
//! [`run`] over `Connection::memory()`.

mod actions;
mod builtins;
mod complete;
pub mod convert;
mod describe;
mod documents;
mod formatting;
mod index;
mod navigate;
mod server;
mod signature;
mod snapshot;
mod symbols;
mod tokens;
pub mod transport;

pub use lsp_server::Connection;
pub use server::{capabilities, run, Ending};

/// Runs the server over standard input and output until the client says `exit` or closes
/// the input; how it ended gives the exit code ([`Ending::exit_code`]).
pub fn run_stdio() -> std::io::Result<Ending> {
    let (connection, io_threads) = transport::connect(std::io::stdin(), std::io::stdout())?;
    let ending = run(connection);
    io_threads.finish();
    Ok(ending)
}
