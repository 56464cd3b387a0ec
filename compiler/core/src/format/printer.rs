//! The output side of the formatter: lines with indentation, blank lines kept where the
//! source had them, and comments put back by position.
//!
//! Comments are flushed as the printer passes their place in the source:
//! - at the start of a line, an own-line comment becomes its own line and a trailing one
//!   goes back to the end of the line printed before it;
//! - in the middle of a line (a comment inside something printed on one line), the comment
//!   is *hoisted*: it is put on its own line above the node that started the line.

use super::comments::Comment;

/// Lines longer than this are broken where a bracketed list allows it.
pub(crate) const MAX_WIDTH: usize = 100;
const INDENT: &str = "  ";

/// What the last finished line was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prev {
    /// Nothing printed yet.
    Start,
    /// A line ending with an opening `{` or `(`/`[` of a broken list.
    Open,
    /// An empty line.
    Blank,
    /// A line of code.
    Code,
    /// A comment on its own line; `true` for a `///` one.
    Comment(bool),
}

/// Where the node that started the current line begins in the output, for hoisted comments.
struct Mark {
    at: usize,
    indent: usize,
    /// A record, class or member: a `///` comment hoisted right above it would become its docs.
    takes_docs: bool,
    hoisted: Vec<Comment>,
}

pub(crate) struct Printer<'a> {
    pub(super) src: &'a str,
    comments: Vec<Comment>,
    next: usize,
    out: String,
    line: String,
    pub(super) indent: usize,
    line_indent: usize,
    prev: Prev,
    prev_has_comment: bool,
    want_blank: bool,
    /// Source offset of the end of the last thing printed, to see blank lines in the source.
    pub(super) last_end: usize,
    /// Whether blank lines of the source are kept here (file level, class and macro bodies).
    pub(super) blanks: bool,
    marks: Vec<Mark>,
    /// A record, class or member is opened and its first line not yet printed.
    decl_pending: bool,
    /// Doc lines are printed and the declaration's first line is not: nothing may go between.
    pub(super) after_docs: bool,
    /// Measuring: everything on one line, no comments.
    pub(super) flat: bool,
}

impl<'a> Printer<'a> {
    pub(crate) fn new(src: &'a str, comments: Vec<Comment>) -> Self {
        Printer {
            src,
            comments,
            next: 0,
            out: String::with_capacity(src.len() + src.len() / 8),
            line: String::new(),
            indent: 0,
            line_indent: 0,
            prev: Prev::Start,
            prev_has_comment: false,
            want_blank: false,
            last_end: 0,
            blanks: true,
            marks: vec![Mark {
                at: 0,
                indent: 0,
                takes_docs: false,
                hoisted: Vec::new(),
            }],
            decl_pending: false,
            after_docs: false,
            flat: false,
        }
    }

    /// A printer that only measures how wide something is on one line.
    pub(super) fn measuring(src: &'a str) -> Self {
        let mut p = Printer::new(src, Vec::new());
        p.flat = true;
        p
    }

    /// The width of the current line so far.
    pub(super) fn width(&self) -> usize {
        self.line.chars().count()
    }

    /// The column where the next text goes.
    pub(super) fn column(&self) -> usize {
        let indent = if self.line.is_empty() {
            self.indent
        } else {
            self.line_indent
        };
        indent * INDENT.len() + self.width()
    }

    /// Whether text of this width still fits on the current line.
    pub(super) fn fits(&self, width: usize) -> bool {
        self.column() + width <= MAX_WIDTH
    }

    /// Whether any comment starts inside `start..end` of the source.
    pub(super) fn has_comment(&self, start: usize, end: usize) -> bool {
        let i = self.comments.partition_point(|c| c.start < start);
        self.comments.get(i).is_some_and(|c| c.start < end)
    }

    /// Appends text to the current line.
    pub(super) fn text(&mut self, s: &str) {
        if self.line.is_empty() {
            self.materialize_blank();
            self.guard_docs();
            self.after_docs = false;
            self.line_indent = self.indent;
        }
        self.line.push_str(s);
    }

    /// Ends the current line, if it has anything.
    pub(super) fn newline(&mut self) {
        if self.line.is_empty() {
            return;
        }
        self.push_indent(self.line_indent);
        let line = std::mem::take(&mut self.line);
        let line = line.trim_end();
        self.out.push_str(line);
        self.out.push('\n');
        self.prev = if line.ends_with(['{', '(', '[']) {
            Prev::Open
        } else {
            Prev::Code
        };
        self.prev_has_comment = false;
    }

    /// Asks for a blank line before the next line (never after an opening bracket, never at
    /// the start of the file, never twice).
    pub(super) fn blank(&mut self) {
        self.want_blank = true;
    }

    /// Drops a pending blank line (before a closing bracket).
    pub(super) fn no_blank(&mut self) {
        self.want_blank = false;
    }

    fn materialize_blank(&mut self) {
        if std::mem::take(&mut self.want_blank)
            && !matches!(self.prev, Prev::Start | Prev::Open | Prev::Blank)
        {
            self.out.push('\n');
            self.prev = Prev::Blank;
        }
    }

    fn push_indent(&mut self, level: usize) {
        for _ in 0..level {
            self.out.push_str(INDENT);
        }
    }

    /// Whether the source has an empty line between two offsets.
    pub(super) fn blank_in_source(&self, from: usize, to: usize) -> bool {
        let (from, to) = (from.min(to), to);
        let Some(gap) = self.src.get(from..to) else {
            return false;
        };
        // An empty line: two line breaks with only blanks between them.
        let mut seen_break = false;
        for b in gap.bytes() {
            match b {
                b'\n' if seen_break => return true,
                b'\n' => seen_break = true,
                b' ' | b'\t' | b'\r' => {}
                _ => seen_break = false,
            }
        }
        false
    }

    /// A verbatim line (a doc comment line) at the current indentation.
    pub(super) fn verbatim_line(&mut self, s: &str) {
        self.newline();
        self.materialize_blank();
        self.guard_docs();
        self.push_indent(self.indent);
        self.out.push_str(s.trim());
        self.out.push('\n');
        self.prev = Prev::Code;
        // Nothing may be appended to a doc line: it would change the docs.
        self.prev_has_comment = true;
    }

    /// Puts back every comment that starts before `pos`.
    pub(super) fn flush(&mut self, pos: usize) {
        if self.flat {
            return;
        }
        while let Some(c) = self.comments.get(self.next).copied() {
            if c.start >= pos {
                break;
            }
            self.next += 1;
            self.put_comment(c);
        }
    }

    fn put_comment(&mut self, c: Comment) {
        if !self.line.is_empty() || self.after_docs {
            if let Some(mark) = self.marks.last_mut() {
                mark.hoisted.push(c);
            }
            return;
        }
        let text = c.text(self.src);
        let attaches =
            !c.own_line && matches!(self.prev, Prev::Code | Prev::Open) && !self.prev_has_comment;
        if attaches {
            // Back onto the end of the line before; marks after it move along.
            let at = self.out.len().saturating_sub(1);
            let inserted = format!(" {text}");
            self.out.insert_str(at, &inserted);
            for mark in &mut self.marks {
                if mark.at > at {
                    mark.at += inserted.len();
                }
            }
            self.prev_has_comment = true;
        } else {
            if self.blanks && self.blank_in_source(self.last_end, c.start) {
                self.want_blank = true;
            }
            self.materialize_blank();
            self.push_indent(self.indent);
            self.out.push_str(text);
            self.out.push('\n');
            self.prev = Prev::Comment(text.starts_with("///"));
        }
        self.last_end = self.last_end.max(c.end);
    }

    /// Starts a node that begins a line: comments above it, the blank line before it if the
    /// source had one, then a mark for comments found inside it.
    pub(super) fn open_node(&mut self, start: usize, takes_docs: bool) {
        self.newline();
        self.flush(start);
        if self.blanks && self.blank_in_source(self.last_end, start) {
            self.want_blank = true;
        }
        self.materialize_blank();
        self.decl_pending = takes_docs;
        self.guard_docs();
        self.decl_pending = takes_docs;
        self.marks.push(Mark {
            at: self.out.len(),
            indent: self.indent,
            takes_docs,
            hoisted: Vec::new(),
        });
    }

    /// Before the first line of a record, class or member: a `///` comment line right above
    /// it would become its docs, so a blank line goes between.
    fn guard_docs(&mut self) {
        if std::mem::take(&mut self.decl_pending) && self.prev == Prev::Comment(true) {
            self.out.push('\n');
            self.prev = Prev::Blank;
        }
    }

    /// Ends a node opened with [`Printer::open_node`]: the comments hoisted out of it go
    /// right above it.
    pub(super) fn close_node(&mut self, end: usize) {
        self.newline();
        if self.marks.len() > 1 {
            if let Some(mark) = self.marks.pop() {
                self.insert_hoisted(mark);
            }
        }
        self.last_end = self.last_end.max(end);
    }

    fn insert_hoisted(&mut self, mark: Mark) {
        if mark.hoisted.is_empty() {
            return;
        }
        let mut block = String::new();
        for c in &mark.hoisted {
            for _ in 0..mark.indent {
                block.push_str(INDENT);
            }
            block.push_str(c.text(self.src));
            block.push('\n');
        }
        let last_is_doc = mark
            .hoisted
            .last()
            .is_some_and(|c| c.text(self.src).starts_with("///"));
        let mut at = mark.at.min(self.out.len());
        if !self.out.is_char_boundary(at) {
            at = self.out.len();
        }
        if mark.takes_docs && last_is_doc && !self.out[at..].starts_with('\n') {
            block.push('\n');
        }
        self.out.insert_str(at, &block);
    }

    /// The text printed so far on the current line (measuring printers).
    pub(super) fn line_text(&self) -> &str {
        &self.line
    }

    /// Every remaining comment, then the finished text with one final newline.
    pub(crate) fn finish(mut self) -> String {
        self.newline();
        self.flush(usize::MAX);
        self.newline();
        while let Some(mark) = self.marks.pop() {
            self.insert_hoisted(mark);
        }
        let trimmed = self.out.trim_end().len();
        self.out.truncate(trimmed);
        self.out.push('\n');
        self.out
    }
}
