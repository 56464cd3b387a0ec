//! `oaasc`: the OaaS command-line tool.

/// `println!` for every module below: a closed stdout ends the process quietly instead of
/// panicking (see `stdout.rs`).
macro_rules! println {
    () => { $crate::stdout::write(format_args!(""), true) };
    ($($arg:tt)*) => { $crate::stdout::write(format_args!($($arg)*), true) };
}

/// `print!` for every module below, as `println!`.
macro_rules! print {
    ($($arg:tt)*) => { $crate::stdout::write(format_args!($($arg)*), false) };
}

mod client;
mod commands;
mod files;
mod k8s;
mod report;
mod stdout;

use clap::{Parser, Subcommand};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::process::ExitCode;

/// The OaaS compiler and tools: check `.oaas` packages, build their artifacts and draw their
/// macros as invocation graphs.
#[derive(Parser)]
#[command(name = "oaasc", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Check(commands::check::CheckArgs),
    Build(commands::build::BuildArgs),
    Graph(commands::graph::GraphArgs),
    Serve(commands::serve::ServeArgs),
    Run(commands::run::RunArgs),
    Deploy(commands::deploy::DeployArgs),
    Invoke(commands::invoke::InvokeArgs),
    Objects(commands::objects::ObjectsArgs),
    Invocations(commands::invocations::InvocationsArgs),
    Packages(commands::packages::PackagesArgs),
    Signal(commands::signal::SignalArgs),
    Token(commands::token::TokenArgs),
    Fmt(commands::fmt::FmtArgs),
    Lsp(commands::lsp::LspArgs),
    New(commands::new::NewArgs),
}

/// Exit codes shared by all commands.
pub mod exit {
    /// Everything went well.
    pub const OK: u8 = 0;
    /// The sources have errors (or warnings with `--deny-warnings`).
    pub const FAILED: u8 = 1;
    /// Bad usage or an IO problem (missing file, unreadable directory).
    pub const USAGE: u8 = 2;
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            let code = if err.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            return ExitCode::from(code);
        }
    };
    let code = match cli.command {
        Command::Check(args) => commands::check::run(args),
        Command::Build(args) => commands::build::run(args),
        Command::Graph(args) => commands::graph::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Run(args) => commands::run::run(args),
        Command::Deploy(args) => commands::deploy::run(args),
        Command::Invoke(args) => commands::invoke::run(args),
        Command::Objects(args) => commands::objects::run(args),
        Command::Invocations(args) => commands::invocations::run(args),
        Command::Packages(args) => commands::packages::run(args),
        Command::Signal(args) => commands::signal::run(args),
        Command::Token(args) => commands::token::run(args),
        Command::Fmt(args) => commands::fmt::run(args),
        Command::Lsp(args) => commands::lsp::run(args),
        Command::New(args) => commands::new::run(args),
    };
    ExitCode::from(code)
}
