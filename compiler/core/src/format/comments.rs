//! Finding `//` comments in source text. The grammar treats comments as trivia, so the
//! formatter reads them from the text by position and puts them back around the nodes.

/// One `//` comment (doc comments included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Comment {
    /// Byte offset of the first `/`.
    pub start: usize,
    /// Byte offset one past the last non-blank character of the comment.
    pub end: usize,
    /// Nothing but whitespace before it on its line.
    pub own_line: bool,
}

impl Comment {
    /// The comment's text, `//` included, trailing blanks dropped.
    pub fn text<'a>(&self, src: &'a str) -> &'a str {
        src.get(self.start..self.end).unwrap_or("")
    }
}

/// Every comment of a text, in order. String literals never span lines and may hold `//`.
pub(crate) fn scan(src: &str) -> Vec<Comment> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut code_on_line = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                code_on_line = false;
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            // A byte order mark is whitespace to the grammar.
            0xEF if bytes.get(i + 1..i + 3) == Some(&[0xBB, 0xBF]) => i += 3,
            b'"' => {
                code_on_line = true;
                i += 1;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' if bytes.get(i + 1).is_some_and(|b| *b != b'\n') => i += 2,
                        b'"' => {
                            i += 1;
                            break;
                        }
                        b'\n' => break,
                        _ => i += 1,
                    }
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let start = i;
                let line_end = src[start..].find('\n').map_or(src.len(), |n| start + n);
                let end = start + src[start..line_end].trim_end().len();
                out.push(Comment {
                    start,
                    end,
                    own_line: !code_on_line,
                });
                i = line_end;
            }
            _ => {
                code_on_line = true;
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_comments_outside_strings() {
        let src = "a // one\n  // two\nb = \"// not\" // three \\\"\nc = \"x\\\"//\"";
        let found: Vec<(&str, bool)> = scan(src)
            .iter()
            .map(|c| (c.text(src), c.own_line))
            .collect();
        assert_eq!(
            found,
            vec![
                ("// one", false),
                ("// two", true),
                ("// three \\\"", false)
            ]
        );
    }
}
