//! One module per subcommand.

pub mod build;
pub mod check;
pub mod deploy;
pub mod fmt;
pub mod graph;
pub mod invocations;
pub mod invoke;
pub mod lsp;
pub mod new;
pub mod objects;
pub mod packages;
pub mod run;
pub mod serve;
pub mod signal;
pub mod token;

/// A package loaded from disk and built without errors.
pub struct Built {
    /// The sources, the standard library first.
    pub workspace: oaas_compiler::Workspace,
    /// The analysis, the graphs and the diagnostics (warnings only); its `artifact` is
    /// taken out into [`Built::artifact`].
    pub build: oaas_compiler::workspace::Build,
    /// The package artifact.
    pub artifact: oaas_compiler::artifact::Artifact,
}

/// Loads the package at `path` (a file or a directory), builds it and prints its
/// diagnostics. When it cannot be read (exit 2) or has errors (exit 1), says so and returns
/// the exit code; `refusal` names what is not done then (`"not built"`).
pub fn load_and_build(path: &std::path::Path, refusal: &str) -> Result<Built, u8> {
    let workspace = crate::files::load_paths(&[path.to_path_buf()]).map_err(|msg| {
        eprintln!("error: {msg}");
        crate::exit::USAGE
    })?;
    let mut build = workspace.build();
    crate::report::diagnostics(&workspace.sources, &build.diagnostics);
    let Some(artifact) = build.artifact.take() else {
        eprintln!("error: {refusal}: fix the errors above first");
        return Err(crate::exit::FAILED);
    };
    Ok(Built {
        workspace,
        build,
        artifact,
    })
}

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
