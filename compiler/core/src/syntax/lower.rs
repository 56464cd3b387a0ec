//! Lowering from pest's parse tree to the [`ast`]. The only module that sees pest types:
//! everything leaves it as AST nodes with byte spans, or as [`Diagnostic`]s.

use super::ast::*;
use super::expected;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::{FileId, LineIndex, Span};
use pest::iterators::Pair;
use pest::Parser;
use pest_derive::Parser;

#[derive(Parser)]
#[grammar = "../../../grammar/oaas.pest"]
pub(crate) struct OaasParser;

/// Expressions nested deeper than this are refused rather than risking the stack.
const MAX_DEPTH: usize = 200;

/// Syntax errors reported per file; past this, one more diagnostic says how many were left
/// out (a file of garbage would otherwise print each of its lines again and again).
pub(crate) const MAX_SYNTAX_ERRORS: usize = 100;

/// Parses and lowers one file. Always returns a tree: broken parts are left out of it and
/// described in the diagnostics.
pub(crate) fn parse_file(file: FileId, text: &str) -> (File, Vec<Diagnostic>) {
    let mut lower = Lower::new(file, text);
    let whole = Span::new(0, text.len());
    let mut ast = File {
        package: None,
        items: Vec::new(),
        span: whole,
    };
    match OaasParser::parse(Rule::file, text) {
        Ok(mut pairs) => {
            if let Some(root) = pairs.next() {
                lower.file(root, &mut ast);
            }
        }
        Err(plain) => {
            // Parse again with details, to say what was expected.
            let err = expected::parse_with_details(Rule::file, text)
                .err()
                .unwrap_or(plain);
            let whole = expected::Stretch {
                text,
                offset: 0,
                limit: text.len(),
                end_words: "the end of the file",
            };
            lower
                .diagnostics
                .push(expected::to_diagnostic(file, &whole, &err));
        }
    }
    let mut diagnostics = lower.diagnostics;
    if diagnostics.len() > MAX_SYNTAX_ERRORS {
        crate::diagnostic::sort(&mut diagnostics);
        let rest = diagnostics.split_off(MAX_SYNTAX_ERRORS);
        if let Some(next) = rest.first() {
            diagnostics.push(
                Diagnostic::new(
                    Code::E0001,
                    file,
                    next.primary.span,
                    format!("too many syntax errors: {} more are not shown", rest.len()),
                )
                .label("more errors from here on")
                .help(format!(
                    "fix the first {MAX_SYNTAX_ERRORS} errors and check again"
                )),
            );
        }
    }
    (ast, diagnostics)
}

/// Parses the `record` or `class` declaration that starts `text` (after comments) and ends
/// `end` bytes into it, for [`super::incremental::reparse`]; the text after it is read only
/// as a parse of the whole file would read it. Spans are offsets into `text`. `None` unless
/// such a declaration is there and ends exactly at `end`; syntax errors inside it are
/// returned with it.
pub(crate) fn parse_item(file: FileId, text: &str, end: usize) -> Option<(Item, Vec<Diagnostic>)> {
    let root = OaasParser::parse(Rule::item_prefix, text).ok()?.next()?;
    let decl = root.into_inner().next()?;
    let mut lower = Lower::new(file, text);
    let item = match decl.as_rule() {
        Rule::class_decl => Item::Class(lower.class(decl)),
        Rule::record_decl => Item::Record(lower.record(decl)),
        _ => return None,
    };
    (item.span().end as usize == end).then_some((item, lower.diagnostics))
}

/// Parses an object access expression such as `vid42:transcode(height=720)/src`.
// A diagnostic is the error, as everywhere; access expressions are parsed one at a time.
#[allow(clippy::result_large_err)]
pub(crate) fn parse_access(text: &str) -> Result<super::AccessExpr, Diagnostic> {
    let file = FileId(0);
    let whole = expected::Stretch {
        text,
        offset: 0,
        limit: text.len(),
        end_words: "the end of the expression",
    };
    let pairs = expected::parse_with_details(Rule::access_expr, text)
        .map_err(|e| expected::to_diagnostic(file, &whole, &e))?;
    let mut lower = Lower::new(file, text);
    let result = pairs.into_iter().next().map(|root| lower.access_expr(root));
    if let Some(d) = lower.diagnostics.into_iter().next() {
        return Err(d);
    }
    result.flatten().ok_or_else(|| {
        Diagnostic::new(
            Code::E0001,
            file,
            Span::new(0, text.len()),
            "not an object access expression",
        )
    })
}

struct Lower<'t> {
    file: FileId,
    text: &'t str,
    lines: LineIndex,
    diagnostics: Vec<Diagnostic>,
    depth: usize,
}

impl<'t> Lower<'t> {
    fn new(file: FileId, text: &'t str) -> Self {
        Lower {
            file,
            text,
            lines: LineIndex::new(text),
            diagnostics: Vec::new(),
            depth: 0,
        }
    }
}

/// The span of a pair, without the whitespace and comments pest leaves at its end when the
/// rule ends with an optional part that matched nothing (`type_atom ~ optional_mark?`).
fn span_of(pair: &Pair<Rule>) -> Span {
    let s = pair.as_span();
    Span::new(s.start(), trim_trivia(pair.get_input(), s.start(), s.end()))
}

/// The end of `text[start..end]` once trailing whitespace and `//` comments are cut off.
pub(crate) fn trim_trivia(text: &str, start: usize, mut end: usize) -> usize {
    let bytes = text.as_bytes();
    // Trivia after a token ends in whitespace, or in a comment at the very end of the text.
    let last_is_space = end > start && bytes.get(end - 1).is_some_and(u8::is_ascii_whitespace);
    if !last_is_space && end < text.len() {
        return end;
    }
    loop {
        while end > start && bytes.get(end - 1).is_some_and(u8::is_ascii_whitespace) {
            end -= 1;
        }
        // Strings never span lines, so lexing the last line from its start (or from the
        // span's start, a token boundary) finds a comment reliably.
        let line_start = text
            .get(..end)
            .and_then(|t| t.rfind('\n'))
            .map_or(0, |i| i + 1)
            .max(start);
        match comment_start(text.get(line_start..end).unwrap_or("")) {
            Some(at) if line_start + at > start => end = line_start + at,
            _ => return end,
        }
    }
}

/// Where a `//` comment starts in one line of source, skipping string literals.
fn comment_start(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        match (in_string, bytes[i]) {
            (true, b'\\') => i += 1,
            (true, b'"') | (false, b'"') => in_string = !in_string,
            (false, b'/') if bytes.get(i + 1) == Some(&b'/') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn ident(pair: Pair<Rule>) -> Ident {
    Ident {
        span: span_of(&pair),
        name: pair.as_str().to_string(),
    }
}

/// Wraps an operand in the prefix operators written before it, innermost last.
fn apply_prefixes(mut operand: Expr, prefixes: &mut Vec<(UnOp, Span)>) -> Expr {
    while let Some((op, at)) = prefixes.pop() {
        let span = at.cover(operand.span);
        operand = Expr {
            kind: ExprKind::Unary {
                op,
                operand: Box::new(operand),
            },
            span,
        };
    }
    operand
}

/// The names of an `after` clause.
fn after_names(pair: Pair<Rule>) -> Vec<Ident> {
    children(pair).map(ident).collect()
}

/// Precedence climbing: folds `first op x op y ...` into a tree, operators of equal
/// precedence grouping to the left.
fn climb(
    mut lhs: Expr,
    rest: &mut std::iter::Peekable<impl Iterator<Item = (BinOp, Expr)>>,
    min: u8,
) -> Expr {
    while let Some((op, _)) = rest.peek() {
        let op = *op;
        if op.precedence() < min {
            break;
        }
        let Some((_, mut rhs)) = rest.next() else {
            break;
        };
        while rest
            .peek()
            .is_some_and(|(next, _)| next.precedence() > op.precedence())
        {
            let next = rest.peek().map(|(o, _)| o.precedence()).unwrap_or(0);
            rhs = climb(rhs, rest, next);
        }
        let span = lhs.span.cover(rhs.span);
        lhs = Expr {
            kind: ExprKind::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            },
            span,
        };
    }
    lhs
}

/// Children that carry meaning: keyword tokens are dropped.
fn children(pair: Pair<Rule>) -> impl Iterator<Item = Pair<Rule>> {
    pair.into_inner().filter(|p| !is_keyword(p.as_rule()))
}

fn is_keyword(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::k_package
            | Rule::k_use
            | Rule::k_record
            | Rule::k_class
            | Rule::k_extends
            | Rule::k_state
            | Rule::k_file
            | Rule::k_ref
            | Rule::k_fn
            | Rule::k_macro
            | Rule::k_let
            | Rule::k_return
            | Rule::k_for
            | Rule::k_in
            | Rule::k_if
            | Rule::k_else
            | Rule::k_try
            | Rule::k_catch
            | Rule::k_after
            | Rule::EOI
    )
}

impl<'t> Lower<'t> {
    fn err(&self, code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(code, self.file, span, message)
    }

    fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// Whether a bad stretch continues the node before it: it starts on the line where that node
    /// ends, or starts with a character that cannot start a node (`=`, `,`, `->`, ...).
    fn continues(&self, prev: Span, bad: &Pair<Rule>) -> bool {
        let start = bad.as_span().start();
        let same_line = !self
            .text
            .get(prev.end as usize..start)
            .unwrap_or("\n")
            .contains('\n');
        let odd_start = bad
            .as_str()
            .starts_with(|c: char| !(c.is_alphanumeric() || c == '@' || c == '_'));
        same_line || odd_start
    }

    /// Re-parses a swallowed stretch with the strict rule to say what was expected there.
    fn report_bad(&mut self, bad: Pair<Rule>, strict: Rule, what: &str) {
        let start = bad.as_span().start();
        self.report_bad_from(bad, start, strict, what);
    }

    /// Like [`Self::report_bad`], re-parsing from `start`, which may lie before the bad stretch
    /// when the stretch continues the member before it (`state x: int =` then a new line).
    /// Only the stretch is re-parsed, so an error is reported on its own line, not on the next.
    fn report_bad_from(&mut self, bad: Pair<Rule>, start: usize, strict: Rule, what: &str) {
        let span = span_of(&bad);
        let stretch = expected::Stretch {
            text: self.text,
            offset: start,
            limit: span.end as usize,
            end_words: expected::LINE_END,
        };
        let slice = self.text.get(start..stretch.limit).unwrap_or("");
        let diagnostic = match expected::parse_with_details(strict, slice) {
            Err(err) => expected::to_diagnostic(self.file, &stretch, &err),
            Ok(_) => Diagnostic::new(Code::E0001, self.file, span, format!("this is not {what}"))
                .label(format!("expected {what}")),
        };
        self.diagnostics.push(diagnostic.note(format!(
            "the parser skipped this line and went on with the next {what}"
        )));
    }

    fn file(&mut self, root: Pair<Rule>, ast: &mut File) {
        let mut seen_item = false;
        for pair in children(root) {
            match pair.as_rule() {
                Rule::package_decl => self.package_decl(pair, ast, seen_item),
                Rule::use_decl => {
                    seen_item = true;
                    if let Some(u) = self.use_decl(pair) {
                        ast.items.push(Item::Use(u));
                    }
                }
                Rule::record_decl => {
                    seen_item = true;
                    ast.items.push(Item::Record(self.record(pair)));
                }
                Rule::class_decl => {
                    seen_item = true;
                    ast.items.push(Item::Class(self.class(pair)));
                }
                Rule::bad_item => {
                    seen_item = true;
                    self.bad_item(pair);
                }
                _ => {}
            }
        }
        if ast.package.is_none() && !self.diagnostics.iter().any(|d| d.code == Code::E0003) {
            let at = Span::new(
                0,
                self.text
                    .find('\n')
                    .unwrap_or(self.text.len())
                    .min(self.text.len()),
            );
            self.push(
                self.err(Code::E0003, at, "this file has no `package` line")
                    .label("expected `package NAME` here")
                    .help("start the file with `package NAME`, for example `package video`"),
            );
        }
    }

    /// `package NAME`: the first one names the file's package; E0003 for a second one, or
    /// one after other items.
    fn package_decl(&mut self, pair: Pair<Rule>, ast: &mut File, seen_item: bool) {
        let span = span_of(&pair);
        let name = children(pair).next().map(ident);
        if ast.package.is_some() {
            self.push(
                self.err(Code::E0003, span, "a file has only one `package` line")
                    .label("second package declaration"),
            );
        } else if seen_item {
            self.push(
                self.err(
                    Code::E0003,
                    span,
                    "`package` must be the first line of the file",
                )
                .label("declared after other items")
                .help("move this line to the top of the file"),
            );
        }
        if ast.package.is_none() {
            ast.package = name;
        }
    }

    /// Text at the top level that is no declaration: a stray `}`, or (with a hint) a member
    /// or statement outside any class.
    fn bad_item(&mut self, pair: Pair<Rule>) {
        if pair.as_str() == "}" {
            self.push(
                self.err(
                    Code::E0001,
                    span_of(&pair),
                    "unexpected `}` with nothing to close",
                )
                .label("no open `{` for this"),
            );
            return;
        }
        let first = pair.as_str().split_whitespace().next().unwrap_or("");
        let member_like = matches!(
            first,
            "state"
                | "file"
                | "ref"
                | "fn"
                | "macro"
                | "public"
                | "internal"
                | "private"
                | "mut"
                | "static"
                | "override"
                | "let"
                | "return"
        );
        self.report_bad(pair, Rule::item_only, "declaration");
        if member_like {
            if let Some(d) = self.diagnostics.pop() {
                self.push(d.help("members and statements belong inside a `class Name { ... }`"));
            }
        }
    }

    fn use_decl(&mut self, pair: Pair<Rule>) -> Option<UseDecl> {
        let span = span_of(&pair);
        let path = children(pair).next()?;
        let mut segments: Vec<Ident> = children(path).map(ident).collect();
        let name = segments.pop()?;
        Some(UseDecl {
            package: segments,
            name,
            span,
        })
    }

    fn docs(&self, start: usize) -> Option<Docs> {
        let before = self.text.get(..start)?;
        let mut lines: Vec<&str> = Vec::new();
        let mut first = start;
        // Walk back line by line over `///` lines directly above the declaration.
        let mut end = before.rfind('\n')?;
        let head = before.get(end + 1..)?;
        if !head.trim().is_empty() {
            return None;
        }
        loop {
            let line_start = before.get(..end)?.rfind('\n').map(|i| i + 1).unwrap_or(0);
            let line = before.get(line_start..end)?.trim();
            match line.strip_prefix("///") {
                Some(doc) => {
                    lines.push(doc.strip_prefix(' ').unwrap_or(doc));
                    first = line_start + before.get(line_start..end)?.find("///").unwrap_or(0);
                }
                None => break,
            }
            if line_start == 0 {
                break;
            }
            end = line_start - 1;
        }
        if lines.is_empty() {
            return None;
        }
        lines.reverse();
        let doc_end = self.text.get(first..start)?.trim_end().len() + first;
        Some(Docs {
            text: lines.join("\n"),
            span: Span::new(first, doc_end),
        })
    }

    fn annotation(&mut self, pair: Pair<Rule>) -> Annotation {
        let span = span_of(&pair);
        let mut name = Ident {
            name: String::new(),
            span,
        };
        let mut args = Vec::new();
        for p in children(pair) {
            match p.as_rule() {
                Rule::ident | Rule::word => name = ident(p),
                Rule::ann_args => args = children(p).filter_map(|a| self.arg(a)).collect(),
                _ => {}
            }
        }
        Annotation { name, args, span }
    }

    fn record(&mut self, pair: Pair<Rule>) -> RecordDecl {
        let span = span_of(&pair);
        let mut annotations = Vec::new();
        let mut name = None;
        let mut fields = Vec::new();
        for p in children(pair) {
            match p.as_rule() {
                Rule::annotation => annotations.push(self.annotation(p)),
                Rule::ident | Rule::word => name = Some(ident(p)),
                Rule::record_field => {
                    let fspan = span_of(&p);
                    let mut inner = children(p);
                    if let (Some(n), Some(t)) = (inner.next(), inner.next()) {
                        fields.push(RecordField {
                            name: ident(n),
                            ty: self.type_expr(t),
                            span: fspan,
                        });
                    }
                }
                _ => {}
            }
        }
        let start = annotations
            .first()
            .map(|a| a.span.start)
            .unwrap_or(span.start) as usize;
        RecordDecl {
            docs: self.docs(start),
            annotations,
            name: name.unwrap_or(Ident {
                name: String::new(),
                span,
            }),
            fields,
            span,
        }
    }

    fn class(&mut self, pair: Pair<Rule>) -> ClassDecl {
        let span = span_of(&pair);
        let mut annotations = Vec::new();
        let mut name = None;
        let mut parent = None;
        let mut members: Vec<Member> = Vec::new();
        // Annotations written after one function's signature but on a later line belong to the
        // next member.
        let mut carried: Vec<Annotation> = Vec::new();
        // The member parsed right before the current pair, if that was a member.
        let mut previous: Option<Span> = None;
        for p in children(pair) {
            match p.as_rule() {
                Rule::annotation => annotations.push(self.annotation(p)),
                Rule::ident | Rule::word => name = Some(ident(p)),
                Rule::extends_clause => parent = children(p).next().map(ident),
                Rule::member_decl => {
                    if let Some(mut member) = self.member(p) {
                        if !carried.is_empty() {
                            let mut leading = std::mem::take(&mut carried);
                            member.span = leading[0].span.cover(member.span);
                            leading.append(&mut member.annotations);
                            member.docs = self.docs(leading[0].span.start as usize);
                            member.annotations = leading;
                        }
                        carried = self.split_trailing(&mut member);
                        previous = Some(member.span);
                        members.push(member);
                    }
                }
                Rule::bad_member => {
                    carried.clear();
                    // A bad stretch that continues the member right before it (`state x: int`
                    // then `= ` on the next line, or junk after a member on its line): re-parse
                    // that member with it, to point at the real gap.
                    match previous.take() {
                        Some(prev) if self.continues(prev, &p) => {
                            let from = prev.start as usize;
                            self.report_bad_from(p, from, Rule::member_only, "member");
                        }
                        _ => self.report_bad(p, Rule::member_only, "member"),
                    }
                }
                Rule::class_end if p.as_str() != "}" => {
                    let open = name.as_ref().map(|n| n.span).unwrap_or(span);
                    self.unclosed_class(span, open, &members);
                }
                _ => {}
            }
        }
        for a in carried {
            self.push(self.err(Code::E0005, a.span, format!("annotation `@{}` annotates nothing", a.name.name))
                .label("no member follows it")
                .help("put annotations right before the member they describe, or after a function's signature on the same line"));
        }
        let start = annotations
            .first()
            .map(|a| a.span.start)
            .unwrap_or(span.start) as usize;
        ClassDecl {
            docs: self.docs(start),
            annotations,
            name: name.unwrap_or(Ident {
                name: String::new(),
                span,
            }),
            parent,
            members,
            span,
        }
    }

    /// E0002: the class (`span`, opened at `open`) lacks its `}`; pointed right after its
    /// last text, with a note when a macro's missing `}` may be the cause.
    fn unclosed_class(&mut self, span: Span, open: Span, members: &[Member]) {
        let body = self
            .text
            .get(..span.end as usize)
            .unwrap_or("")
            .trim_end()
            .len();
        let at = Span::new(body, body);
        let mut d = self
            .err(Code::E0002, at, "this class is missing its closing `}`")
            .label("expected `}` here")
            .secondary(self.file, open, "the class opened here");
        if members
            .iter()
            .any(|m| matches!(m.kind, MemberKind::Macro { .. }))
        {
            d = d.note("if a macro body above lacks its `}`, the class's `}` closed it instead");
        }
        self.push(d);
    }

    /// Takes off a function's trailing annotations that start on a later line than its
    /// signature ends, and returns them for the next member.
    fn split_trailing(&self, member: &mut Member) -> Vec<Annotation> {
        let MemberKind::Fn(sig) = &member.kind else {
            return Vec::new();
        };
        let sig_line = self.lines.line_of(sig.span.end as usize);
        let Some(cut) = member.annotations.iter().position(|a| {
            a.span.start > sig.span.end && self.lines.line_of(a.span.start as usize) > sig_line
        }) else {
            return Vec::new();
        };
        let moved = member.annotations.split_off(cut);
        let last_kept = member
            .annotations
            .last()
            .map(|a| a.span.end)
            .unwrap_or(sig.span.end);
        member.span = Span::new(
            member.span.start as usize,
            last_kept.max(sig.span.end) as usize,
        );
        moved
    }

    fn member(&mut self, pair: Pair<Rule>) -> Option<Member> {
        let span = span_of(&pair);
        let mut annotations = Vec::new();
        let mut modifiers = Modifiers::default();
        let mut result = None;
        for p in children(pair) {
            match p.as_rule() {
                Rule::annotation => annotations.push(self.annotation(p)),
                Rule::modifier => {
                    if let Some(m) = p.into_inner().next() {
                        self.modifier(m, &mut modifiers);
                    }
                }
                Rule::state_decl | Rule::ref_decl => result = Some(self.data_decl(p)?),
                Rule::file_decl => result = Some(self.file_decl(p)?),
                Rule::fn_decl | Rule::macro_decl => {
                    result = Some(self.callable_decl(p, &mut annotations)?)
                }
                _ => {}
            }
        }
        let (name, kind) = result?;
        let start = annotations
            .first()
            .map(|a| a.span.start.min(span.start))
            .unwrap_or(span.start) as usize;
        Some(Member {
            docs: self.docs(start),
            annotations,
            modifiers,
            name,
            kind,
            span,
        })
    }

    /// A `state` or `ref` declaration: its name, and its type and default.
    fn data_decl(&mut self, p: Pair<Rule>) -> Option<(Ident, MemberKind)> {
        let is_state = p.as_rule() == Rule::state_decl;
        let mut name = None;
        let mut ty = None;
        let mut default = None;
        for q in children(p) {
            match q.as_rule() {
                Rule::ident | Rule::word => name = Some(ident(q)),
                Rule::type_expr => ty = Some(self.type_expr(q)),
                Rule::default => default = children(q).next().and_then(|e| self.expr(e)),
                _ => {}
            }
        }
        let (name, ty) = (name?, ty?);
        let kind = if is_state {
            MemberKind::State { ty, default }
        } else {
            MemberKind::Ref { ty, default }
        };
        Some((name, kind))
    }

    /// A `file` declaration: its name and media type.
    fn file_decl(&mut self, p: Pair<Rule>) -> Option<(Ident, MemberKind)> {
        let mut name = None;
        let mut media_type = None;
        for q in children(p) {
            match q.as_rule() {
                Rule::ident | Rule::word => name = Some(ident(q)),
                Rule::string_lit => media_type = Some(self.string_lit(q)),
                _ => {}
            }
        }
        Some((name?, MemberKind::File { media_type }))
    }

    /// A `fn` or `macro` declaration: its name, signature and body; annotations written after
    /// the signature join the member's `annotations`.
    fn callable_decl(
        &mut self,
        p: Pair<Rule>,
        annotations: &mut Vec<Annotation>,
    ) -> Option<(Ident, MemberKind)> {
        let is_macro = p.as_rule() == Rule::macro_decl;
        let mut name = None;
        let mut params = Vec::new();
        let mut ret = None;
        let mut sig_span: Option<Span> = None;
        let mut body = None;
        for q in children(p) {
            match q.as_rule() {
                Rule::ident | Rule::word => name = Some(ident(q)),
                Rule::params => {
                    sig_span = Some(span_of(&q));
                    params = children(q).filter_map(|x| self.param(x)).collect();
                }
                Rule::ret_type => {
                    let rspan = span_of(&q);
                    sig_span = Some(sig_span.map(|s| s.cover(rspan)).unwrap_or(rspan));
                    ret = children(q).next().map(|t| self.type_expr(t));
                }
                Rule::annotation => annotations.push(self.annotation(q)),
                Rule::macro_body => body = Some(self.macro_body(q)),
                _ => {}
            }
        }
        let name = name?;
        let sig = Signature {
            params,
            ret,
            span: sig_span.unwrap_or(name.span),
        };
        let kind = match (is_macro, body) {
            (true, Some(body)) => MemberKind::Macro { sig, body },
            _ => MemberKind::Fn(sig),
        };
        Some((name, kind))
    }

    fn modifier(&mut self, m: Pair<Rule>, mods: &mut Modifiers) {
        let span = span_of(&m);
        let word = m.as_str();
        let slot = match m.as_rule() {
            Rule::access => {
                let access = match word {
                    "public" => Access::Public,
                    "internal" => Access::Internal,
                    _ => Access::Private,
                };
                if let Some((_, first)) = mods.access {
                    let first_word = self.text.get(first.range()).unwrap_or("");
                    let msg = if first_word == word {
                        format!("`{word}` is written twice")
                    } else {
                        format!("a member has one access modifier, but here are `{first_word}` and `{word}`")
                    };
                    self.push(
                        self.err(Code::E0006, span, msg)
                            .label("remove this")
                            .secondary(self.file, first, "first given here"),
                    );
                } else {
                    mods.access = Some((access, span));
                }
                return;
            }
            Rule::mut_kw => &mut mods.mut_,
            Rule::static_kw => &mut mods.static_,
            Rule::override_kw => &mut mods.override_,
            _ => return,
        };
        if let Some(first) = *slot {
            self.diagnostics.push(
                Diagnostic::new(
                    Code::E0006,
                    self.file,
                    span,
                    format!("`{word}` is written twice"),
                )
                .label("remove this")
                .secondary(self.file, first, "first given here"),
            );
        } else {
            *slot = Some(span);
        }
    }

    fn param(&mut self, pair: Pair<Rule>) -> Option<Param> {
        let span = span_of(&pair);
        let mut inner = children(pair);
        let name = ident(inner.next()?);
        let ty = self.type_expr(inner.next()?);
        let default = inner
            .next()
            .and_then(|d| children(d).next())
            .and_then(|e| self.expr(e));
        Some(Param {
            name,
            ty,
            default,
            span,
        })
    }

    /// Lowers a type; one nested past [`MAX_DEPTH`] is reported and left unnamed.
    fn type_expr(&mut self, pair: Pair<Rule>) -> TypeExpr {
        let span = span_of(&pair);
        if self.depth >= MAX_DEPTH {
            self.too_deep(span, "types");
            let name = Ident {
                name: String::new(),
                span,
            };
            return TypeExpr {
                kind: TypeExprKind::Named(name),
                span,
            };
        }
        self.depth += 1;
        let ty = self.type_expr_inner(pair);
        self.depth -= 1;
        ty
    }

    fn type_expr_inner(&mut self, pair: Pair<Rule>) -> TypeExpr {
        let span = span_of(&pair);
        let mut inner = pair.into_inner();
        let base = match inner.next() {
            Some(atom) if atom.as_rule() == Rule::list_type => {
                let aspan = span_of(&atom);
                let elem = atom.into_inner().next().map(|t| self.type_expr(t));
                match elem {
                    Some(e) => TypeExpr {
                        kind: TypeExprKind::List(Box::new(e)),
                        span: aspan,
                    },
                    None => TypeExpr {
                        kind: TypeExprKind::Named(Ident {
                            name: String::new(),
                            span,
                        }),
                        span,
                    },
                }
            }
            Some(atom) => {
                let id = ident(atom);
                TypeExpr {
                    span: id.span,
                    kind: TypeExprKind::Named(id),
                }
            }
            None => TypeExpr {
                kind: TypeExprKind::Named(Ident {
                    name: String::new(),
                    span,
                }),
                span,
            },
        };
        if inner.next().is_some() {
            TypeExpr {
                kind: TypeExprKind::Optional(Box::new(base)),
                span,
            }
        } else {
            base
        }
    }

    fn macro_body(&mut self, pair: Pair<Rule>) -> MacroBody {
        let span = span_of(&pair);
        let stmts = self.stmts(pair);
        MacroBody { stmts, span }
    }

    /// The statements of a macro body or a block.
    fn stmts(&mut self, pair: Pair<Rule>) -> Vec<Stmt> {
        let mut stmts: Vec<Stmt> = Vec::new();
        // The statement parsed right before the current pair, if that was a statement.
        let mut previous: Option<Span> = None;
        for p in children(pair) {
            let this = span_of(&p);
            let before = previous.replace(this);
            match p.as_rule() {
                Rule::let_stmt => {
                    if let Some(l) = self.let_stmt(p) {
                        stmts.push(Stmt::Let(l));
                    }
                }
                Rule::return_stmt => {
                    let sspan = span_of(&p);
                    if let Some(value) = children(p).next().and_then(|e| self.expr(e)) {
                        stmts.push(Stmt::Return { value, span: sspan });
                    }
                }
                Rule::expr_stmt => {
                    let sspan = span_of(&p);
                    let mut parts = children(p);
                    let value = parts.next().and_then(|e| self.expr(e));
                    let after = parts.next().map(after_names).unwrap_or_default();
                    if let Some(value) = value {
                        stmts.push(Stmt::Expr {
                            value,
                            after,
                            span: sspan,
                        });
                    }
                }
                Rule::bad_stmt => {
                    previous = None;
                    let what = "statement (`let`, `return`, `if`, `try` or a call)";
                    match before {
                        // `self.put(key: )` parses as the field `self.put`, then a bad `(key: )`:
                        // report the whole line, and drop the half statement.
                        Some(prev) if self.continues(prev, &p) => {
                            if matches!(stmts.last(), Some(Stmt::Expr { span, .. }) if *span == prev)
                            {
                                stmts.pop();
                            }
                            self.report_bad_from(p, prev.start as usize, Rule::stmt_only, what);
                        }
                        _ => self.report_bad(p, Rule::stmt_only, what),
                    }
                }
                _ => {}
            }
        }
        stmts
    }

    fn block(&mut self, pair: Pair<Rule>) -> Block {
        let span = span_of(&pair);
        Block {
            stmts: self.stmts(pair),
            span,
        }
    }

    fn let_stmt(&mut self, pair: Pair<Rule>) -> Option<Let> {
        let span = span_of(&pair);
        let mut inner = children(pair);
        let name = ident(inner.next()?);
        let value = self.expr(inner.next()?)?;
        let after = inner.next().map(after_names).unwrap_or_default();
        Some(Let {
            name,
            value,
            after,
            span,
        })
    }

    fn arg(&mut self, pair: Pair<Rule>) -> Option<Arg> {
        let span = span_of(&pair);
        let mut name = None;
        let mut value = None;
        for p in children(pair) {
            match p.as_rule() {
                Rule::ident | Rule::word => name = Some(ident(p)),
                Rule::expr => value = self.expr(p),
                _ => {}
            }
        }
        Some(Arg {
            name,
            value: value?,
            span,
        })
    }

    fn args(&mut self, pair: Pair<Rule>) -> Vec<Arg> {
        children(pair).filter_map(|a| self.arg(a)).collect()
    }

    /// Lowers an `expr` pair: operands (each a primary followed by `.field` and `.call(...)`
    /// suffixes, after prefix operators) joined by infix operators, by precedence.
    ///
    /// A chain of `n` suffixes lowers to a tree `n` deep, so it counts `n` levels towards
    /// [`MAX_DEPTH`]: its primary and arguments are lowered `n + 1` levels down. Each
    /// operator counts one level too.
    fn expr(&mut self, pair: Pair<Rule>) -> Option<Expr> {
        let levels = pair.clone().into_inner().count();
        if self.depth + levels > MAX_DEPTH {
            self.too_deep(span_of(&pair), "expressions");
            return None;
        }
        self.depth += levels;
        let result = self.operators(pair);
        self.depth -= levels;
        result
    }

    /// Operands and operators of an `expr`, built into a tree by precedence climbing. The
    /// children are flat: prefix operators, a primary and its `.field` and `.call()`
    /// suffixes, then an infix operator and the next operand, and so on.
    fn operators(&mut self, pair: Pair<Rule>) -> Option<Expr> {
        let mut operands: Vec<Expr> = Vec::new();
        let mut ops: Vec<BinOp> = Vec::new();
        let mut prefixes: Vec<(UnOp, Span)> = Vec::new();
        let mut current: Option<Expr> = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::prefix_op => {
                    let op = if p.as_str() == "-" {
                        UnOp::Neg
                    } else {
                        UnOp::Not
                    };
                    prefixes.push((op, span_of(&p)));
                }
                Rule::infix_op => {
                    operands.push(apply_prefixes(current.take()?, &mut prefixes));
                    ops.push(BinOp::parse(p.as_str())?);
                }
                Rule::field_suffix | Rule::call_suffix => {
                    current = Some(self.suffix(current.take()?, p)?);
                }
                _ => current = Some(self.primary(p)?),
            }
        }
        operands.push(apply_prefixes(current?, &mut prefixes));
        if ops.is_empty() {
            return operands.pop();
        }
        let mut operands = operands.into_iter();
        let first = operands.next()?;
        let mut rest = ops.into_iter().zip(operands).peekable();
        Some(climb(first, &mut rest, 0))
    }

    /// Reports, once per file, that expressions or types are nested past [`MAX_DEPTH`].
    fn too_deep(&mut self, span: Span, what: &str) {
        if !self
            .diagnostics
            .iter()
            .any(|d| d.code == Code::E0001 && d.message.contains("nested"))
        {
            let d = self
                .err(
                    Code::E0001,
                    span,
                    format!("{what} are nested more than {MAX_DEPTH} deep"),
                )
                .label("too deep");
            self.push(if what == "expressions" {
                d.note("each `.field` or `.call()` of a chain counts as one level")
                    .help("split the expression with `let`")
            } else {
                d
            });
        }
    }

    /// Applies a `.field` or `.call(...)` suffix.
    fn suffix(&mut self, current: Expr, suffix: Pair<Rule>) -> Option<Expr> {
        let sspan = span_of(&suffix);
        let span = current.span.cover(sspan);
        Some(match suffix.as_rule() {
            Rule::field_suffix => {
                let name = ident(children(suffix).next()?);
                Expr {
                    kind: ExprKind::Field {
                        target: Box::new(current),
                        name,
                    },
                    span,
                }
            }
            _ => {
                let mut parts = children(suffix);
                let method = ident(parts.next()?);
                let args = parts.next().map(|a| self.args(a)).unwrap_or_default();
                Expr {
                    kind: ExprKind::Call {
                        target: Box::new(current),
                        method,
                        args,
                    },
                    span,
                }
            }
        })
    }

    fn primary(&mut self, pair: Pair<Rule>) -> Option<Expr> {
        let span = span_of(&pair);
        let kind = match pair.as_rule() {
            Rule::expr => return self.expr(pair),
            Rule::self_kw => ExprKind::SelfRef,
            Rule::ident | Rule::word => ExprKind::Name { name: ident(pair) },
            Rule::free_call => {
                let mut parts = children(pair);
                let func = ident(parts.next()?);
                let args = parts.next().map(|a| self.args(a)).unwrap_or_default();
                ExprKind::FreeCall { func, args }
            }
            Rule::list_lit => ExprKind::List {
                items: children(pair).filter_map(|e| self.expr(e)).collect(),
            },
            Rule::object_lit => {
                let mut members = Vec::new();
                for m in children(pair) {
                    let mut parts = children(m);
                    let (Some(k), Some(v)) = (parts.next(), parts.next()) else {
                        continue;
                    };
                    let key = self.string_lit(k).value;
                    members.push((key, self.expr(v)?));
                }
                ExprKind::Object { members }
            }
            Rule::if_expr => return self.if_expr(pair),
            Rule::interp_lit => self.interp_lit(pair)?,
            Rule::try_expr => {
                let mut parts = children(pair);
                let body = self.block(parts.next()?);
                let var = ident(parts.next()?);
                let catch = self.block(parts.next()?);
                ExprKind::Try { body, var, catch }
            }
            Rule::for_expr => self.for_expr(pair)?,
            _ => return self.literal(pair),
        };
        Some(Expr { kind, span })
    }

    /// `for x in xs if cond tolerate n { lets; value }` (its own function: `expr` recurses
    /// through deep nesting, so its frame is kept small).
    fn for_expr(&mut self, pair: Pair<Rule>) -> Option<ExprKind> {
        let mut parts = children(pair).peekable();
        let var = ident(parts.next()?);
        let iter = self.expr(parts.next()?)?;
        let filter = match parts.peek() {
            Some(f) if f.as_rule() == Rule::for_filter => {
                let f = parts.next()?;
                Some(Box::new(self.expr(children(f).next()?)?))
            }
            _ => None,
        };
        let tolerate = match parts.peek() {
            Some(t) if t.as_rule() == Rule::for_tolerate => {
                let t = parts.next()?;
                self.tolerate(t)
            }
            _ => None,
        };
        let body = parts.next()?;
        let mut lets = Vec::new();
        let mut value = None;
        for b in children(body) {
            match b.as_rule() {
                Rule::let_stmt => lets.extend(self.let_stmt(b)),
                Rule::expr => value = self.expr(b),
                _ => {}
            }
        }
        Some(ExprKind::For {
            var,
            iter: Box::new(iter),
            filter,
            tolerate,
            lets,
            value: Box::new(value?),
        })
    }

    /// `tolerate 2` / `tolerate 10%`; a number too large for 64 bits is E0004.
    fn tolerate(&mut self, pair: Pair<Rule>) -> Option<Tolerate> {
        let span = span_of(&pair);
        let number = children(pair).last()?;
        let text = number.as_str();
        let (digits, percent) = match text.strip_suffix('%') {
            Some(d) => (d, true),
            None => (text, false),
        };
        let Ok(n) = digits.parse::<u64>() else {
            let e = self.err(
                Code::E0004,
                span_of(&number),
                format!("`{text}` is too large for a tolerance"),
            );
            self.push(e);
            return None;
        };
        let limit = if percent {
            Tolerance::Percent(n)
        } else {
            Tolerance::Count(n)
        };
        Some(Tolerate { limit, span })
    }

    /// `if cond { ... } else ...`; an `else if` becomes an `else` block holding the inner `if`.
    fn if_expr(&mut self, pair: Pair<Rule>) -> Option<Expr> {
        let span = span_of(&pair);
        let mut parts = children(pair);
        let cond = self.expr(parts.next()?)?;
        let then = self.block(parts.next()?);
        let otherwise = match parts.next() {
            Some(p) if p.as_rule() == Rule::block => Some(self.block(p)),
            Some(p) if p.as_rule() == Rule::if_expr => {
                let inner_span = span_of(&p);
                let inner = self.if_expr(p)?;
                Some(Block {
                    stmts: vec![Stmt::Expr {
                        value: inner,
                        after: Vec::new(),
                        span: inner_span,
                    }],
                    span: inner_span,
                })
            }
            _ => None,
        };
        Some(Expr {
            kind: ExprKind::If {
                cond: Box::new(cond),
                then,
                otherwise,
            },
            span,
        })
    }

    fn literal(&mut self, pair: Pair<Rule>) -> Option<Expr> {
        let span = span_of(&pair);
        let text = pair.as_str();
        let kind = match pair.as_rule() {
            Rule::int_lit => match text.parse::<i64>() {
                Ok(value) => ExprKind::Int { value },
                Err(_) => {
                    self.push(
                        self.err(
                            Code::E0004,
                            span,
                            format!("the number `{text}` does not fit in an `int`"),
                        )
                        .label("too large")
                        .note("an `int` is a 64-bit signed integer"),
                    );
                    return None;
                }
            },
            Rule::float_lit => match text.parse::<f64>() {
                Ok(value) if value.is_finite() => ExprKind::Float { value },
                _ => {
                    self.push(
                        self.err(
                            Code::E0004,
                            span,
                            format!("the number `{text}` does not fit in a `float`"),
                        )
                        .label("too large")
                        .note("a `float` is a 64-bit floating-point number"),
                    );
                    return None;
                }
            },
            Rule::duration_lit => {
                let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
                let unit = &text[digits.len()..];
                let factor: u64 = match unit {
                    "ms" => 1,
                    "s" => 1_000,
                    "m" => 60_000,
                    _ => 3_600_000,
                };
                match digits
                    .parse::<u64>()
                    .ok()
                    .and_then(|n| n.checked_mul(factor))
                {
                    Some(millis) => ExprKind::Duration { millis },
                    None => {
                        self.push(
                            self.err(
                                Code::E0004,
                                span,
                                format!("the duration `{text}` is too long"),
                            )
                            .label("here"),
                        );
                        return None;
                    }
                }
            }
            Rule::string_lit => ExprKind::Str {
                value: self.string_lit(pair).value,
            },
            Rule::bool_lit => ExprKind::Bool {
                value: text == "true",
            },
            Rule::null_lit => ExprKind::Null,
            _ => {
                self.push(
                    self.err(Code::E0001, span, "expected an expression")
                        .label("here"),
                );
                return None;
            }
        };
        Some(Expr { kind, span })
    }

    fn string_lit(&mut self, pair: Pair<Rule>) -> StringLit {
        let span = span_of(&pair);
        let raw = pair.as_str();
        let inner = raw.get(1..raw.len().saturating_sub(1)).unwrap_or("");
        let value = self.unescape(inner, span.start as usize + 1);
        StringLit { value, span }
    }

    /// `"text {expr} text"`: its text pieces unescaped (`\{` and `\}` included) and its
    /// values lowered.
    fn interp_lit(&mut self, pair: Pair<Rule>) -> Option<ExprKind> {
        let mut parts = Vec::new();
        for p in children(pair) {
            match p.as_rule() {
                Rule::interp_text => {
                    let at = span_of(&p).start as usize;
                    parts.push(InterpPart::Text(self.unescape(p.as_str(), at)));
                }
                _ => parts.push(InterpPart::Value(self.expr(children(p).next()?)?)),
            }
        }
        Some(ExprKind::Interp { parts })
    }

    /// The text of a string between its quotes, escapes resolved; `at` is where `inner`
    /// starts in the file.
    fn unescape(&mut self, inner: &str, at: usize) -> String {
        let mut value = String::with_capacity(inner.len());
        let mut chars = inner.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                value.push(c);
                continue;
            }
            match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, 't')) => value.push('\t'),
                Some((_, 'r')) => value.push('\r'),
                Some((_, '0')) => value.push('\0'),
                Some((_, '\\')) => value.push('\\'),
                Some((_, '"')) => value.push('"'),
                Some((_, c @ ('{' | '}'))) => value.push(c),
                Some((j, other)) => {
                    let at = at + i;
                    let esc = Span::new(at, at + 1 + (j - i) + other.len_utf8() - 1);
                    self.push(
                        self.err(
                            Code::E0004,
                            esc,
                            format!("unknown escape `\\{other}` in a string"),
                        )
                        .label("not an escape")
                        .help("the escapes are \\n, \\t, \\r, \\0, \\\\, \\\", \\{ and \\}"),
                    );
                }
                None => {}
            }
        }
        value
    }

    // ------------------------------------------------------------ object access expressions

    fn access_expr(&mut self, root: Pair<Rule>) -> Option<super::AccessExpr> {
        let mut target = None;
        let mut file_name = None;
        for p in children(root) {
            match p.as_rule() {
                Rule::object_call => {
                    let mut parts = children(p);
                    let id = parts.next()?.as_str().to_string();
                    let function = ident(parts.next()?);
                    let args = parts.next().map(|a| self.oal_args(a)).unwrap_or_default();
                    target = Some(super::AccessTarget::Object { id, function, args });
                }
                Rule::static_call => {
                    let mut names = Vec::new();
                    let mut args = Vec::new();
                    for q in children(p) {
                        match q.as_rule() {
                            Rule::ident | Rule::word => names.push(ident(q)),
                            Rule::oal_args => args = self.oal_args(q),
                            _ => {}
                        }
                    }
                    let function = names.pop()?;
                    let class = names.pop()?;
                    let package = names
                        .into_iter()
                        .map(|n| n.name)
                        .collect::<Vec<_>>()
                        .join(".");
                    let package = if package.is_empty() {
                        None
                    } else {
                        Some(package)
                    };
                    target = Some(super::AccessTarget::Static {
                        package,
                        class,
                        function,
                        args,
                    });
                }
                Rule::file_suffix => file_name = children(p).next().map(ident),
                _ => {}
            }
        }
        Some(super::AccessExpr {
            target: target?,
            file: file_name,
        })
    }

    fn oal_args(&mut self, pair: Pair<Rule>) -> Vec<Arg> {
        let mut args = Vec::new();
        for a in children(pair) {
            let span = span_of(&a);
            let mut parts = children(a);
            let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
                continue;
            };
            if let Some(value) = self.json_value(value) {
                args.push(Arg {
                    name: Some(ident(name)),
                    value,
                    span,
                });
            }
        }
        args
    }

    fn json_value(&mut self, pair: Pair<Rule>) -> Option<Expr> {
        if self.depth >= MAX_DEPTH {
            self.push(self.err(
                Code::E0001,
                span_of(&pair),
                format!("values are nested more than {MAX_DEPTH} deep"),
            ));
            return None;
        }
        self.depth += 1;
        let result = self.json_value_inner(pair);
        self.depth -= 1;
        result
    }

    /// A bare word in an access expression: a literal if the whole word is one, else a string.
    fn bare_word(&mut self, pair: Pair<Rule>) -> Option<Expr> {
        let span = span_of(&pair);
        let word = pair.as_str();
        let literal = OaasParser::parse(Rule::literal_only, word)
            .ok()
            .and_then(|mut pairs| pairs.next())
            .and_then(|root| root.into_inner().next());
        let Some(literal) = literal else {
            return Some(Expr {
                kind: ExprKind::Str {
                    value: word.to_string(),
                },
                span,
            });
        };
        // The literal was parsed on its own: move what it reports to where the word is.
        let before = self.diagnostics.len();
        let expr = self.literal(literal);
        for d in self.diagnostics.iter_mut().skip(before) {
            d.primary.span = span;
        }
        expr.map(|e| Expr { kind: e.kind, span })
    }

    fn json_value_inner(&mut self, pair: Pair<Rule>) -> Option<Expr> {
        let span = span_of(&pair);
        let inner = pair.into_inner().next()?;
        let kind = match inner.as_rule() {
            Rule::json_object => {
                let mut members = Vec::new();
                for m in children(inner) {
                    let mut parts = children(m);
                    let (Some(k), Some(v)) = (parts.next(), parts.next()) else {
                        continue;
                    };
                    let key = self.string_lit(k).value;
                    members.push((key, self.json_value(v)?));
                }
                ExprKind::Object { members }
            }
            Rule::json_array => ExprKind::List {
                items: children(inner).filter_map(|v| self.json_value(v)).collect(),
            },
            Rule::bare_word => return self.bare_word(inner),
            _ => return self.literal(inner),
        };
        Some(Expr { kind, span })
    }
}
