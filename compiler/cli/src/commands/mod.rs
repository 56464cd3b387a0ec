//! One module per subcommand.

pub mod build;
pub mod check;
pub mod deploy;
pub mod fmt;
pub mod graph;
pub mod invocations;
pub mod invoke;
pub mod lsp;
pub mod objects;
pub mod run;
pub mod serve;

/// Runs a future on a fresh multi-threaded tokio runtime; exit code 2 if it cannot start.
pub fn block_on<F: std::future::Future<Output = u8>>(f: F) -> u8 {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(f),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            crate::exit::USAGE
        }
    }
}
