//! One module per subcommand.

pub mod build;
pub mod check;
pub mod fmt;
pub mod graph;
pub mod lsp;
pub mod run;
pub mod serve;
