//! `oaasc fmt`: format `.oaas` files in the one canonical style (the formatter of the
//! language server).

use crate::{exit, files};
use clap::Args;
use oaas_compiler::format::{self, FormatError};
use oaas_compiler::{render, Sources};
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

/// Format `.oaas` files in the canonical style (see docs/formatting.md).
///
/// Rewrites every file that is not formatted. With --check, changes nothing and lists the
/// files that are not. Files with syntax errors are left as they are, with the errors shown.
///
/// Exit status: 0 when every file is formatted (or was just formatted); 1 with --check when
/// a file is not formatted, or when a file has syntax errors; 2 for usage or IO problems.
///
/// Examples:
///   oaasc fmt                          # every .oaas file below the current directory
///   oaasc fmt examples/video           # one package directory
///   oaasc fmt --check .                # for CI: fail if a file is not formatted
///   oaasc fmt - < in.oaas > out.oaas   # standard input to standard output
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct FmtArgs {
    /// Files or directories (all `*.oaas` below them); `-` for standard input.
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Change nothing; fail if a file is not formatted.
    #[arg(long)]
    pub check: bool,
}

/// Runs the command and returns the exit code.
pub fn run(args: FmtArgs) -> u8 {
    if args.paths.len() == 1 && args.paths[0].as_os_str() == "-" {
        return stdin(args.check);
    }
    let paths = match files::collect(&args.paths) {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("error: {msg}");
            return exit::USAGE;
        }
    };
    if paths.is_empty() {
        eprintln!("error: no .oaas files found");
        return exit::USAGE;
    }
    let (mut changed, mut failed) = (0usize, 0usize);
    for path in &paths {
        let shown = files::display(path);
        let text = match std::fs::read(path).map(String::from_utf8) {
            Ok(Ok(t)) => t,
            Ok(Err(_)) => {
                eprintln!("error: `{shown}` is not UTF-8 text");
                return exit::USAGE;
            }
            Err(e) => {
                eprintln!("error: cannot read `{shown}`: {e}");
                return exit::USAGE;
            }
        };
        match format::format(&text) {
            Ok(out) if out == text => {}
            Ok(_) if args.check => {
                println!("{shown}");
                changed += 1;
            }
            Ok(out) => {
                if let Err(e) = std::fs::write(path, out) {
                    eprintln!("error: cannot write `{shown}`: {e}");
                    return exit::USAGE;
                }
                eprintln!("formatted {shown}");
                changed += 1;
            }
            Err(e) => {
                report(&shown, &text, &e);
                failed += 1;
            }
        }
    }
    let n = paths.len();
    let files = if n == 1 { "file" } else { "files" };
    if args.check {
        eprintln!("{changed} of {n} {files} not formatted");
    } else {
        eprintln!("formatted {changed} of {n} {files}");
    }
    if failed > 0 {
        eprintln!("{failed} with syntax errors left as they are");
    }
    if failed > 0 || (args.check && changed > 0) {
        exit::FAILED
    } else {
        exit::OK
    }
}

fn stdin(check: bool) -> u8 {
    let mut text = String::new();
    if std::io::stdin().read_to_string(&mut text).is_err() {
        eprintln!("error: standard input is not UTF-8 text");
        return exit::USAGE;
    }
    match format::format(&text) {
        Ok(out) if check => {
            if out == text {
                exit::OK
            } else {
                exit::FAILED
            }
        }
        Ok(out) => {
            let _ = std::io::stdout().write_all(out.as_bytes());
            exit::OK
        }
        Err(e) => {
            report("<stdin>", &text, &e);
            exit::FAILED
        }
    }
}

fn report(shown: &str, text: &str, e: &FormatError) {
    match e {
        FormatError::Syntax(diagnostics) => {
            let mut sources = Sources::new();
            sources.add(shown, text);
            let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            eprint!("{}", render::render_human(&sources, diagnostics, color));
            eprintln!("error: `{shown}` has syntax errors; not formatted");
        }
        FormatError::Internal(_) => eprintln!("error: `{shown}`: {e}; not formatted"),
    }
}
