//! Syntax: the grammar (`grammar/oaas.pest`), the AST, and parsing with recovery.
//!
//! Parsing never fails: [`parse`] returns the tree *and* its diagnostics, so later stages and
//! the language server can work on broken files.

pub mod ast;
mod expected;
pub mod incremental;
mod lower;

use crate::diagnostic::Diagnostic;
use crate::span::FileId;
use serde::Serialize;

pub use incremental::{reparse, ParseCache, Reuse};

/// A parsed file and what went wrong while parsing it.
#[derive(Clone, Debug)]
pub struct Parsed {
    /// The tree, with broken parts left out; shared, so that a kept parse (a
    /// [`ParseCache`]) and the checks that use it do not copy it.
    pub ast: std::sync::Arc<ast::File>,
    /// Syntax errors, each at its own place.
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses one `.oaas` file.
pub fn parse(file: FileId, text: &str) -> Parsed {
    let (ast, diagnostics) = lower::parse_file(file, text);
    Parsed {
        ast: std::sync::Arc::new(ast),
        diagnostics,
    }
}

/// A parsed object access expression: `vid42:transcode(height=720)/src`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AccessExpr {
    /// What is called.
    pub target: AccessTarget,
    /// `/name`: a file of the call's output object.
    pub file: Option<ast::Ident>,
}

/// The call part of an object access expression.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum AccessTarget {
    /// `OBJECT_ID:fn(args)`.
    Object {
        /// The object id as written.
        id: String,
        /// The function.
        function: ast::Ident,
        /// `name=value` arguments.
        args: Vec<ast::Arg>,
    },
    /// `[package.]Class.fn(args)`.
    Static {
        /// The package, when qualified.
        package: Option<String>,
        /// The class.
        class: ast::Ident,
        /// The function.
        function: ast::Ident,
        /// `name=value` arguments.
        args: Vec<ast::Arg>,
    },
}

impl AccessTarget {
    /// The function called.
    pub fn function(&self) -> &ast::Ident {
        match self {
            AccessTarget::Object { function, .. } | AccessTarget::Static { function, .. } => {
                function
            }
        }
    }

    /// The `name=value` arguments.
    pub fn args(&self) -> &[ast::Arg] {
        match self {
            AccessTarget::Object { args, .. } | AccessTarget::Static { args, .. } => args,
        }
    }

    /// For a static call, the class as written: `package.Class`, or `Class` when the
    /// package is left out.
    pub fn class(&self) -> Option<String> {
        match self {
            AccessTarget::Object { .. } => None,
            AccessTarget::Static {
                package: Some(p),
                class,
                ..
            } => Some(format!("{p}.{}", class.name)),
            AccessTarget::Static { class, .. } => Some(class.name.clone()),
        }
    }
}

/// Parses an object access expression. The error's spans are offsets into `text`.
#[allow(clippy::result_large_err)] // one diagnostic, for one short expression
pub fn parse_access_expr(text: &str) -> Result<AccessExpr, Diagnostic> {
    lower::parse_access(text)
}
