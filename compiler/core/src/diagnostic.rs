//! The one diagnostic model: a coded message with a primary span, secondary labels, notes and
//! help. Renderers (the `render` module) turn it into text, JSON, GitHub annotations; the
//! language server converts it for editors.

use crate::span::{FileId, Span};
use serde::Serialize;

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Stops `oaasc check` with exit 1.
    Error,
    /// Reported; fails only with `--deny-warnings`.
    Warning,
}

macro_rules! codes {
    ($($code:ident => $title:literal,)*) => {
        /// Every diagnostic code the compiler can emit. Each has a page `docs/errors/CODE.md`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $(#[doc = $title] $code,)* }

        impl Code {
            /// All codes, in order.
            pub const ALL: &'static [Code] = &[$(Code::$code,)*];

            /// The code as written: `E0001`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$code => stringify!($code),)* }
            }

            /// A short title for the code.
            pub fn title(self) -> &'static str {
                match self { $(Code::$code => $title,)* }
            }
        }
    };
}

codes! {
    E0001 => "syntax error",
    E0002 => "missing closing brace",
    E0003 => "missing or misplaced package declaration",
    E0004 => "invalid literal",
    E0005 => "misplaced annotation",
    E0006 => "repeated or conflicting modifier",
    E0007 => "modifier not allowed here",
    E0008 => "malformed macro body",
    E0009 => "files of one directory declare different packages",
    E0100 => "duplicate declaration",
    E0101 => "duplicate member",
    E0102 => "duplicate parameter",
    E0103 => "duplicate record field",
    E0104 => "duplicate binding",
    E0105 => "duplicate argument",
    E0110 => "unknown type",
    E0111 => "unknown class",
    E0112 => "unknown name",
    E0113 => "unknown function",
    E0114 => "unknown field",
    E0115 => "unknown package",
    E0116 => "unknown annotation",
    E0117 => "unknown argument name",
    E0200 => "mismatched types",
    E0201 => "too many arguments",
    E0202 => "missing required argument",
    E0203 => "wrong return type",
    E0204 => "call on something that is not an object",
    E0205 => "field access on something without fields",
    E0206 => "`for` over something that is not a list",
    E0207 => "default is not a constant of the declared type",
    E0208 => "positional argument after a named one",
    E0209 => "`flatten` needs a list of lists",
    E0210 => "static and object calls mixed up",
    E0211 => "list elements of different types",
    E0212 => "a call without a result used as a value",
    E0213 => "invalid annotation argument",
    E0214 => "condition that is not a `bool`",
    E0215 => "operator on values of the wrong type",
    E0216 => "branches without a common value",
    E0217 => "not allowed in this place",
    E0218 => "`after` on something that is not a call",
    E0230 => "tolerance over 100%",
    E0231 => "invalid `signal` or `sleep` argument",
    E0300 => "private member of another class",
    E0301 => "internal member of another package",
    E0302 => "private field",
    E0400 => "inheritance cycle",
    E0401 => "cannot extend this",
    E0402 => "`override` missing",
    E0403 => "`override` on nothing",
    E0404 => "incompatible override",
    E0405 => "override weakens access",
    E0500 => "`mut` on a static function",
    E0501 => "recursion between macros",
    E0502 => "`@memo` on a function whose result cannot be reused",
    E0600 => "invalid `oaas.toml` manifest",
    W0001 => "unused `let` binding",
    W0002 => "unused parameter",
    W0003 => "function with no way to run",
    W0004 => "result that reaches nothing",
    W0005 => "unreachable code",
}

impl Code {
    /// Errors start with `E`, warnings with `W`.
    pub fn severity(self) -> Severity {
        if self.as_str().starts_with('W') {
            Severity::Warning
        } else {
            Severity::Error
        }
    }

    /// Looks a code up by its text (`"E0001"`).
    pub fn parse(text: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.as_str() == text)
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A span in a file with a message.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Label {
    /// The file the span is in.
    pub file: FileId,
    /// Where.
    pub span: Span,
    /// What to say there (may be empty).
    pub message: String,
}

/// One problem found in the sources.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diagnostic {
    /// The code, which also fixes the severity.
    pub code: Code,
    /// Error or warning.
    pub severity: Severity,
    /// One sentence saying what is wrong.
    pub message: String,
    /// The offending place, with a short label.
    pub primary: Label,
    /// Related places: where a thing was declared, the other duplicate, ...
    pub secondary: Vec<Label>,
    /// Background that explains the rule.
    pub notes: Vec<String>,
    /// What to do about it.
    pub help: Vec<String>,
    /// Changes to the sources that tools can apply (the help lines that are edits).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fixes: Vec<Fix>,
}

/// One replacement of a span of a file by a text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Edit {
    /// The file to change.
    pub file: FileId,
    /// The bytes replaced (empty to insert).
    pub span: Span,
    /// What replaces them.
    pub text: String,
}

/// A suggested change that resolves a diagnostic: what an editor offers as a quick fix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Fix {
    /// What the change does, as a menu entry says it: "Rename to `_x`".
    pub title: String,
    /// The edits, applied together.
    pub edits: Vec<Edit>,
    /// Whether this is the one clear fix (an editor may apply it with a single key).
    pub preferred: bool,
}

impl Fix {
    /// A fix that replaces one span by a text.
    pub fn replace(
        title: impl Into<String>,
        file: FileId,
        span: Span,
        text: impl Into<String>,
    ) -> Fix {
        Fix {
            title: title.into(),
            edits: vec![Edit {
                file,
                span,
                text: text.into(),
            }],
            preferred: false,
        }
    }

    /// Marks the fix as the one clear fix.
    pub fn preferred(mut self) -> Fix {
        self.preferred = true;
        self
    }
}

impl Diagnostic {
    /// A diagnostic with the severity of its code.
    pub fn new(code: Code, file: FileId, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: code.severity(),
            message: message.into(),
            primary: Label {
                file,
                span,
                message: String::new(),
            },
            secondary: Vec::new(),
            notes: Vec::new(),
            help: Vec::new(),
            fixes: Vec::new(),
        }
    }

    /// Sets the primary label's text.
    pub fn label(mut self, message: impl Into<String>) -> Self {
        self.primary.message = message.into();
        self
    }

    /// Adds a secondary label.
    pub fn secondary(mut self, file: FileId, span: Span, message: impl Into<String>) -> Self {
        self.secondary.push(Label {
            file,
            span,
            message: message.into(),
        });
        self
    }

    /// Adds a note.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Adds a help line.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help.push(help.into());
        self
    }

    /// Adds a fix an editor can apply.
    pub fn fix(mut self, fix: Fix) -> Self {
        self.fixes.push(fix);
        self
    }

    /// "did you mean `x`?" for the name under the primary label, with the fix that replaces
    /// that name by `x`; nothing when there is no suggestion.
    pub fn did_you_mean(self, found: Option<&str>) -> Self {
        self.did_you_mean_as(found, |s| s.to_string())
    }

    /// [`Diagnostic::did_you_mean`] where the suggestion is written differently in the help
    /// than in the source (`@local` for the name `local`).
    pub fn did_you_mean_as(self, found: Option<&str>, shown: impl Fn(&str) -> String) -> Self {
        let Some(name) = found else { return self };
        let (file, span) = (self.primary.file, self.primary.span);
        self.help(format!("did you mean `{}`?", shown(name)))
            .fix(Fix::replace(format!("Change to `{}`", shown(name)), file, span, name).preferred())
    }

    /// Whether this is an error (as opposed to a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Sorts diagnostics by file and position, so output is stable whatever order passes ran in.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        (a.primary.file, a.primary.span.start, a.code, &a.message).cmp(&(
            b.primary.file,
            b.primary.span.start,
            b.code,
            &b.message,
        ))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {code}");
            assert_eq!(Code::parse(code.as_str()), Some(*code));
        }
        assert_eq!(Code::W0001.severity(), Severity::Warning);
        assert_eq!(Code::E0001.severity(), Severity::Error);
    }
}
