//! `oaasc build`: check a package and write its artifact, the JSON the runtime executes.

use crate::{exit, files};
use clap::Args;
use std::path::PathBuf;

/// Check a package and write its artifact (the JSON the runtime runs).
///
/// The artifact holds classes, functions, macro graphs, a source map and a content-hash
/// version; see docs/artifact.md.
///
/// Examples:
///   oaasc build examples/video                   # writes video.oaas.json
///   oaasc build examples/video -o build/video.json
///   oaasc build examples/video -o -              # to standard output
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct BuildArgs {
    /// A package file or directory (all `*.oaas` below it).
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Where to write the artifact; `-` for standard output. Default: `<package>.oaas.json`.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// Runs the command and returns the exit code.
pub fn run(args: BuildArgs) -> u8 {
    let artifact = match super::load_and_build(&args.path, "not built") {
        Ok(built) => built.artifact,
        Err(code) => return code,
    };
    let json = artifact.to_json();
    let output = args.output.unwrap_or_else(|| {
        let name = artifact
            .packages
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join("+");
        PathBuf::from(format!(
            "{}.oaas.json",
            if name.is_empty() { "package" } else { &name }
        ))
    });
    if output.as_os_str() == "-" {
        print!("{json}");
        return exit::OK;
    }
    if let Err(e) = std::fs::write(&output, json) {
        eprintln!("error: cannot write `{}`: {e}", output.display());
        return exit::USAGE;
    }
    let classes: usize = artifact.packages.iter().map(|p| p.classes.len()).sum();
    let macros: usize = artifact
        .packages
        .iter()
        .flat_map(|p| &p.classes)
        .map(|c| {
            c.macros
                .iter()
                .filter(|m| m.declared_in == c.qualified)
                .count()
        })
        .sum();
    eprintln!(
        "wrote {} ({} classes, {} macros, version {})",
        files::display(&output),
        classes,
        macros,
        &artifact.version[..artifact.version.len().min(19)]
    );
    exit::OK
}
