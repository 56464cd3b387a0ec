//! The `.oaas` compiler, a pure library: text in, trees, diagnostics and artifacts out.
//!
//! ```text
//! .oaas text --pest--> parse tree --lower--> AST (spans)            syntax
//!   --resolve/typeck--> checked package + diagnostics               check
//!   --graph--> invocation graph per macro                           graph
//!   --emit--> package artifact (serde JSON)                          artifact
//! ```
//!
//! Every stage collects [`Diagnostic`]s and carries on where it can; nothing panics on user
//! input. No IO happens here: callers hand in the texts, through a [`Workspace`].

pub mod artifact;
pub mod check;
pub mod diagnostic;
pub mod format;
pub mod graph;
pub mod manifest;
pub mod render;
pub mod span;
pub mod syntax;
pub mod workspace;

pub use check::Analysis;
pub use diagnostic::{Code, Diagnostic, Edit, Fix, Severity};
pub use span::{FileId, Sources, Span};
pub use workspace::Workspace;
