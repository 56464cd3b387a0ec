//! A workspace: the standard library plus the user's files, parsed and checked together.
//! The CLI fills one from disk; the language server from the editor's buffers.

use crate::check::{self, Analysis};
use crate::span::{FileId, Sources};

/// The standard library's source, checked like user code.
pub const STDLIB_SOURCE: &str = include_str!("../../../stdlib/std.oaas");
/// The path diagnostics show for the standard library.
pub const STDLIB_PATH: &str = "<stdlib>/std.oaas";

/// Source files to check together: the standard library is always file 0.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Every file, the standard library first.
    pub sources: Sources,
}

impl Default for Workspace {
    fn default() -> Self {
        Self::new()
    }
}

impl Workspace {
    /// A workspace holding only the standard library.
    pub fn new() -> Self {
        let mut sources = Sources::new();
        sources.add(STDLIB_PATH, STDLIB_SOURCE);
        Workspace { sources }
    }

    /// Adds a user file.
    pub fn add_file(&mut self, path: impl Into<String>, text: impl Into<String>) -> FileId {
        self.sources.add(path, text)
    }

    /// Checks `text` as the standard library instead of the built-in one, shown under `path`:
    /// the file of the `std` package itself, as `oaasc check stdlib` reads it from disk (it
    /// would otherwise declare everything a second time).
    pub fn set_stdlib(&mut self, path: impl Into<String>, text: impl Into<String>) {
        self.sources.replace(FileId(0), path, text);
    }

    /// The standard library's file id.
    pub fn stdlib_file(&self) -> FileId {
        FileId(0)
    }

    /// Parses and checks everything.
    pub fn check(&self) -> Analysis {
        check::analyze(&self.sources)
    }

    /// Checks everything, parsing only what changed since the parses in `cache` (see
    /// [`crate::syntax::ParseCache`]); the result is the same as [`Workspace::check`]'s.
    pub fn check_cached(&self, cache: &mut crate::syntax::ParseCache) -> Analysis {
        check::analyze_cached(&self.sources, cache)
    }

    /// Like [`Workspace::check_cached`], leaving `cache` as it is.
    pub fn check_reusing(&self, cache: &crate::syntax::ParseCache) -> Analysis {
        check::analyze_reusing(&self.sources, cache)
    }
}

/// The result of [`Workspace::build`]: the analysis, the graphs, and the artifact when there
/// are no errors.
#[derive(Debug, Clone)]
pub struct Build {
    /// The checked workspace.
    pub analysis: Analysis,
    /// One graph per macro (empty when there are errors).
    pub graphs: Vec<crate::graph::InvocationGraph>,
    /// The artifact, present only without errors.
    pub artifact: Option<crate::artifact::Artifact>,
    /// Checker diagnostics and graph warnings, sorted.
    pub diagnostics: Vec<crate::Diagnostic>,
}

impl Build {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.is_error())
    }
}

impl Workspace {
    /// Checks everything and, if there are no errors, builds the graphs and the artifact.
    pub fn build(&self) -> Build {
        let mut build = self.check_with_graphs();
        if build.analysis.error_count() == 0 {
            let artifact = crate::artifact::build(&build.analysis, &self.sources, &build.graphs);
            build.artifact = Some(artifact);
        }
        build
    }

    /// Checks everything and, if there are no errors, builds the graphs, for their warnings,
    /// but not the artifact: all that `oaasc check` reports, without the work of
    /// serializing and hashing the whole package.
    pub fn check_with_graphs(&self) -> Build {
        let analysis = self.check();
        let mut diagnostics = analysis.diagnostics.clone();
        if analysis.error_count() > 0 {
            return Build {
                analysis,
                graphs: Vec::new(),
                artifact: None,
                diagnostics,
            };
        }
        let (graphs, warnings) = crate::graph::build_all(&analysis, &self.sources);
        diagnostics.extend(warnings);
        crate::diagnostic::sort(&mut diagnostics);
        Build {
            analysis,
            graphs,
            artifact: None,
            diagnostics,
        }
    }
}
