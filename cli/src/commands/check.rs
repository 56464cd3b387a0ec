//! `oaasc check`: parse and type-check packages, report diagnostics.

use crate::{exit, files};
use clap::{Args, ValueEnum};
use oaas_compiler::render;
use std::io::IsTerminal;
use std::path::PathBuf;

/// Check `.oaas` files for errors, as CI and editors need.
///
/// Exit status: 0 when there are no errors, 1 when there are (or warnings with
/// --deny-warnings), 2 for usage or IO problems.
///
/// Examples:
///   oaasc check                          # every .oaas file below the current directory
///   oaasc check examples/video           # one package directory
///   oaasc check --format github .        # annotations for GitHub Actions
///   oaasc check --format json x.oaas     # one JSON object per diagnostic
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct CheckArgs {
    /// Files or directories (all `*.oaas` below them).
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// How to print diagnostics.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
}

/// Output formats for diagnostics.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    /// Source excerpts with labels, for people (colour only on a terminal).
    Human,
    /// One JSON object per line.
    Json,
    /// GitHub Actions workflow commands (`::error file=...`).
    Github,
}

/// Runs the command and returns the exit code.
pub fn run(args: CheckArgs) -> u8 {
    let format = args.format;
    let report = |sources: &oaas_compiler::Sources, diagnostics: &[oaas_compiler::Diagnostic]| {
        match format {
            Format::Human => {
                let color =
                    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
                eprint!("{}", render::render_human(sources, diagnostics, color));
            }
            Format::Json => print!("{}", render::render_json(sources, diagnostics)),
            Format::Github => print!("{}", render::render_github(sources, diagnostics)),
        }
    };
    let paths = match files::collect_reporting(&args.paths, report) {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("error: {msg}");
            return exit::USAGE;
        }
    };
    if paths.is_empty() {
        eprintln!("error: no .oaas files found in {}", list(&args.paths));
        return exit::USAGE;
    }
    let workspace = match files::load(&paths) {
        Ok(w) => w,
        Err(msg) => {
            eprintln!("error: {msg}");
            return exit::USAGE;
        }
    };
    // Macros are also lowered to graphs (when there are no errors), which adds the graph
    // warnings, such as a result that reaches nothing; the artifact is not needed.
    let build = workspace.check_with_graphs();
    let diagnostics = &build.diagnostics;
    let error_count = errors(diagnostics);
    report(&workspace.sources, diagnostics);
    if format == Format::Human {
        eprintln!(
            "{}",
            summary(paths.len(), error_count, diagnostics.len() - error_count)
        );
    }
    let failed = error_count > 0 || (args.deny_warnings && diagnostics.len() > error_count);
    if failed {
        exit::FAILED
    } else {
        exit::OK
    }
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| format!("`{}`", files::display(p)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn summary(files: usize, errors: usize, warnings: usize) -> String {
    let checked = format!("checked {}", plural(files, "file"));
    match (errors, warnings) {
        (0, 0) => format!("{checked}: no problems"),
        (e, 0) => format!("{checked}: {}", plural(e, "error")),
        (0, w) => format!("{checked}: {}", plural(w, "warning")),
        (e, w) => format!(
            "{checked}: {}, {}",
            plural(e, "error"),
            plural(w, "warning")
        ),
    }
}

fn errors(diagnostics: &[oaas_compiler::Diagnostic]) -> usize {
    diagnostics.iter().filter(|d| d.is_error()).count()
}
