//! Diagnostics as GitHub Actions workflow commands, which show as annotations on the diff.

use crate::diagnostic::{Diagnostic, Severity};
use crate::span::Sources;

/// `::error file=F,line=L,col=C,endLine=..,endColumn=..,title=CODE::message`, one per line.
pub fn render_github(sources: &Sources, diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let f = sources.get(d.primary.file);
        let start = f.lines.line_col(&f.text, d.primary.span.start as usize);
        let end = f.lines.line_col(&f.text, d.primary.span.end as usize);
        let level = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut message = d.message.clone();
        for help in &d.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        out.push_str(&format!(
            "::{level} file={},line={},col={},endLine={},endColumn={},title={}::{}\n",
            escape_property(&f.path),
            start.line,
            start.column,
            end.line,
            end.column,
            d.code,
            escape_data(&message)
        ));
    }
    out
}

/// Escapes a message as GitHub's workflow command parser wants it.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value (also `:` and `,`).
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_separators() {
        assert_eq!(escape_property("a,b:c%\n"), "a%2Cb%3Ac%25%0A");
        assert_eq!(escape_data("x\ny"), "x%0Ay");
    }
}
