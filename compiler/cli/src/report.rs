//! Printing diagnostics for people on standard error, shared by the commands that compile.

use oaas_compiler::{render, Diagnostic, Sources};
use std::io::IsTerminal;

/// Whether standard error is a colour terminal (and `NO_COLOR` is not set).
pub fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Prints diagnostics, if any, for people.
pub fn diagnostics(sources: &Sources, diagnostics: &[Diagnostic]) {
    if !diagnostics.is_empty() {
        eprint!("{}", render::render_human(sources, diagnostics, color()));
    }
}
