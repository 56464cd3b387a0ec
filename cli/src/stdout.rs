//! Printing to standard output without a panic when the reader has gone.
//!
//! `std`'s `println!` panics when stdout is a closed pipe (`oaasc graph ... | head -1`,
//! or a `dot` that is not installed). The crate's `println!` and `print!` (in main.rs) come
//! here instead: a closed pipe ends the process quietly with status 0, as the output was
//! not wanted any more; any other write error is reported and ends it with status 2.

use std::fmt::Arguments;
use std::io::{ErrorKind, Write};

/// Writes `args` (and a newline when `newline`) to standard output.
pub fn write(args: Arguments<'_>, newline: bool) {
    let mut out = std::io::stdout().lock();
    let written = match newline {
        true => writeln!(out, "{args}"),
        false => write!(out, "{args}"),
    };
    if let Err(e) = written {
        if e.kind() == ErrorKind::BrokenPipe {
            std::process::exit(i32::from(crate::exit::OK));
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(i32::from(crate::exit::USAGE));
    }
}
