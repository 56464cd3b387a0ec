//! Turns pest's parse errors into diagnostics that say, in words, what was expected: "expected
//! a type, found `->`" rather than rule names.

use super::lower::{trim_trivia, OaasParser, Rule};
use crate::diagnostic::{Code, Diagnostic};
use crate::span::{floor_char_boundary, FileId, Span};
use pest::error::{Error, ErrorVariant, InputLocation};
use pest::iterators::Pairs;
use pest::Parser;
use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};

/// Parses with pest's error details on, so that an error lists the literal tokens pest
/// expected, not only rule names. Recording every attempt doubles the time of a whole-file
/// parse, so details are on only for the parses that explain an error. Pest reads its
/// switch when a parse starts; the lock keeps one such parse from turning details off while
/// another starts (a plain parse that starts meanwhile is only slower).
pub(crate) fn parse_with_details(rule: Rule, text: &str) -> Result<Pairs<'_, Rule>, Error<Rule>> {
    static DETAILED: Mutex<()> = Mutex::new(());
    let _one_at_a_time = DETAILED.lock().unwrap_or_else(PoisonError::into_inner);
    pest::set_error_detail(true);
    let result = OaasParser::parse(rule, text);
    pest::set_error_detail(false);
    result
}

/// What was parsed: `text[offset..limit]`, where running out of input means `end_words`.
pub(crate) struct Stretch<'t> {
    /// The whole source text.
    pub text: &'t str,
    /// Where the parsed stretch starts.
    pub offset: usize,
    /// Where it ends.
    pub limit: usize,
    /// What the end of the stretch is, for people: "the end of the line".
    pub end_words: &'static str,
}

/// Tokens that start an expression: "expected an expression" already says them.
const EXPRESSION_STARTS: &[&str] = &[
    "`(`",
    "`[`",
    "`{`",
    "`false`",
    "`true`",
    "`null`",
    "`self`",
    "`for`",
    "`if`",
    "`try`",
    "`not`",
    "`-`",
    "a string",
    "a number",
    "`true` or `false`",
    "`null`",
    "a duration such as `30s`",
];

/// Infix operators, left out of "expected ..." lists.
const OPERATORS: &[&str] = &[
    "`!=`",
    "`%`",
    "`*`",
    "`+`",
    "`-`",
    "`/`",
    "`<=`",
    "`<`",
    "`==`",
    "`>=`",
    "`>`",
    "`and`",
    "`or`",
    "an operator",
];

const DURATION_UNITS: &[&str] = &["`ms`", "`s`", "`m`", "`h`"];

/// What can start a member, after its annotations and modifiers.
const MEMBER_STARTS: &[&str] = &[
    "`state`",
    "`file`",
    "`ref`",
    "`fn`",
    "`macro`",
    "`public`",
    "`internal`",
    "`private`",
    "`mut`",
    "`static`",
    "`override`",
    "an annotation",
];

/// The words for the end of a skipped line that was re-parsed alone.
pub(crate) const LINE_END: &str = "the end of the line";

/// Every keyword, to explain why a keyword is not accepted as a name.
const KEYWORDS: &[&str] = &[
    "package", "use", "record", "class", "extends", "state", "file", "ref", "fn", "macro", "let",
    "return", "for", "in", "if", "else", "try", "catch", "after", "and", "or", "not", "public",
    "internal", "private", "mut", "static", "override", "true", "false", "null", "self",
];

/// Where the error is and what was expected there: the furthest place pest reached and
/// the tokens it tried there, or, when that says no more, where a whole rule failed and the
/// rules it wanted.
fn expected_at(err: &Error<Rule>, end_words: &str) -> (usize, BTreeSet<String>) {
    let local = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let attempts = err.parse_attempts();
    // Tokens pest tried at the furthest place it reached.
    let tokens: BTreeSet<String> = attempts
        .iter()
        .flat_map(|a| a.expected_tokens())
        .filter_map(|t| describe_literal(&t.to_string()))
        .collect();
    let furthest = attempts.as_ref().map_or(local, |a| a.max_position);
    // The rule-level error sits where a whole rule failed; the furthest tokens are usually more
    // precise ("expected `:`" inside a member rather than "expected a member" at its start).
    if furthest > local && !tokens.is_empty() {
        return (furthest, tokens);
    }
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    if let ErrorVariant::ParsingError { positives, .. } = &err.variant {
        for rule in positives {
            match describe(*rule) {
                Some(words) => wanted.insert(words.to_string()),
                None if *rule == Rule::EOI => wanted.insert(end_words.to_string()),
                None => false,
            };
        }
    }
    if furthest == local {
        wanted.extend(tokens);
    }
    (local, wanted)
}

/// The span, the words for what was found (`found`, the token at `at`, or the end of the
/// stretch when it is empty) and the label.
fn found_at(stretch: &Stretch, at: usize, found: &str) -> (Span, String, String) {
    let (text, end_words) = (stretch.text, stretch.end_words);
    if !found.is_empty() {
        return (
            Span::new(at, (at + found.len()).min(text.len())),
            format!("`{found}`"),
            "unexpected here".to_string(),
        );
    }
    // Out of input: point right after the last token rather than at the next line.
    let end = trim_trivia(text, stretch.offset, at.min(stretch.limit));
    // A skipped line that is the file's last ends with the file.
    let words = if end_words == LINE_END && at >= text.len() {
        "the end of the file"
    } else {
        end_words
    };
    (
        Span::new(end, end),
        words.to_string(),
        format!("{words} comes too soon"),
    )
}

/// A diagnostic for a pest error on a stretch of the text.
pub(crate) fn to_diagnostic(file: FileId, stretch: &Stretch, err: &Error<Rule>) -> Diagnostic {
    let Stretch {
        text,
        offset,
        limit,
        end_words,
    } = *stretch;
    let (pos, mut wanted) = expected_at(err, end_words);
    if let ErrorVariant::CustomError { message } = &err.variant {
        if message.contains("limit") {
            let at = floor_char_boundary(text, offset + pos);
            let span = Span::new(at, next_char_end(text, at));
            return Diagnostic::new(
                Code::E0001,
                file,
                span,
                "this file is nested too deeply to parse",
            )
            .label("nesting gets too deep here");
        }
    }
    let at = floor_char_boundary(text, offset + pos);
    tidy(&mut wanted, text, at);

    if let Some(d) = unterminated_string(file, text, offset, at) {
        return d;
    }
    if let Some(d) = non_ascii_name(file, text, offset, at) {
        return d;
    }
    let found = if at >= limit {
        String::new()
    } else {
        found_token(text, at)
    };
    let (span, found_words, label) = found_at(stretch, at, &found);
    let wanted_name = wanted.contains("a name");
    let message = if wanted.is_empty() && found.is_empty() {
        format!("{found_words} comes too soon")
    } else if wanted.is_empty() {
        format!("unexpected {found_words}")
    } else {
        format!(
            "expected {}, found {found_words}",
            join_or(&wanted.into_iter().collect::<Vec<_>>())
        )
    };
    let mut diagnostic = Diagnostic::new(Code::E0001, file, span, message).label(label);
    if wanted_name && KEYWORDS.contains(&found.as_str()) {
        diagnostic = diagnostic.note(format!(
            "`{found}` is a keyword: it cannot name a class, a record, a parameter or a variable"
        ));
    }
    diagnostic
}

/// Drops tokens that a broader description already covers, folds lists of keywords, and
/// drops number suffixes (`e`, `ms`, ...) unless one is glued to the number (`120x`).
fn tidy(wanted: &mut BTreeSet<String>, text: &str, at: usize) {
    let glued_to_digits = text
        .get(..at)
        .and_then(|t| t.chars().next_back())
        .is_some_and(|c| c.is_ascii_digit())
        && text
            .get(at..)
            .and_then(|t| t.chars().next())
            .is_some_and(|c| c.is_ascii_alphabetic());
    wanted.retain(|w| w != "`e`" && w != "`E`");
    // Any complete expression could go on with an operator; saying so after every
    // expression would drown what is really missing (a `)`, a `,`).
    // (`/` alone also ends an object access expression: only a list with `==` is one of
    // operators.)
    if wanted.contains("`==`") {
        wanted.retain(|w| !OPERATORS.contains(&w.as_str()));
    }
    if !glued_to_digits {
        wanted.retain(|w| !DURATION_UNITS.contains(&w.as_str()));
    }
    let member_keywords = &MEMBER_STARTS[..5];
    if member_keywords.iter().all(|k| wanted.contains(*k)) {
        wanted.retain(|w| !MEMBER_STARTS.contains(&w.as_str()));
        wanted.insert(
            "a member (`state`, `file`, `ref`, `fn` or `macro`, after any annotations and modifiers)"
                .to_string(),
        );
    }
    if ["an expression", "an argument", "a value"]
        .iter()
        .any(|w| wanted.contains(*w))
    {
        wanted.retain(|w| !EXPRESSION_STARTS.contains(&w.as_str()));
    }
    if wanted.contains("a type") {
        wanted.remove("`[`");
    }
    if DURATION_UNITS.iter().any(|u| wanted.contains(*u)) {
        wanted.retain(|w| !DURATION_UNITS.contains(&w.as_str()));
        wanted.insert("a duration unit (`ms`, `s`, `m` or `h`)".to_string());
    }
}

/// A string on the line of `at`, opened at or before `at`, that does not close on its line.
/// `from` is a token boundary at or before `at`.
fn unterminated_string(file: FileId, text: &str, from: usize, at: usize) -> Option<Diagnostic> {
    let line_start = text.get(..at)?.rfind('\n').map_or(0, |i| i + 1).max(from);
    let line_end = text.get(at..)?.find('\n').map_or(text.len(), |i| at + i);
    let line = text.get(line_start..line_end)?;
    let mut open: Option<usize> = None;
    let mut escaped = false;
    let mut prev_slash = false;
    for (i, c) in line.char_indices() {
        match (open, escaped, c) {
            (Some(_), true, _) => escaped = false,
            (Some(_), false, '\\') => escaped = true,
            (Some(_), false, '"') => open = None,
            (None, _, '"') => open = Some(i),
            (None, _, '/') if prev_slash => break,
            _ => {}
        }
        prev_slash = open.is_none() && c == '/';
    }
    let quote = line_start + open?;
    if quote > at {
        return None;
    }
    let end = line_start + line.trim_end().len();
    Some(
        Diagnostic::new(
            Code::E0004,
            file,
            Span::new(quote, end),
            "this string has no closing `\"`",
        )
        .label("the string starts here and runs to the end of the line")
        .help("a string ends on the line it starts on; write `\\n` for a line break"),
    )
}

/// A name with a letter outside ASCII at `at`, such as `größe`.
fn non_ascii_name(file: FileId, text: &str, offset: usize, at: usize) -> Option<Diagnostic> {
    let first = text.get(at..)?.chars().next()?;
    if first.is_ascii() || !first.is_alphanumeric() {
        return None;
    }
    let before = text.get(offset..at)?;
    let start = at - (before.len() - before.trim_end_matches(is_name_char).len());
    let end = at
        + text
            .get(at..)?
            .find(|c: char| !is_name_char(c))
            .unwrap_or(text.len() - at);
    let word = text.get(start..end)?;
    Some(
        Diagnostic::new(
            Code::E0001,
            file,
            Span::new(start, end),
            format!("`{word}` is not a valid name"),
        )
        .label("a letter outside ASCII")
        .note("names are made of ASCII letters, digits and `_`, and start with a letter or `_`")
        .help("any text is fine inside a string or a comment"),
    )
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The end of the character at `at` (at most the text's end).
fn next_char_end(text: &str, at: usize) -> usize {
    text.get(at..)
        .and_then(|r| r.chars().next())
        .map_or(at, |c| at + c.len_utf8())
}

/// The token at `at`: a word, a number, or one character; empty at the end.
fn found_token(text: &str, at: usize) -> String {
    let rest = text.get(at..).unwrap_or("");
    let word: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .take(40)
        .collect();
    if !word.is_empty() {
        return word;
    }
    if rest.starts_with("->") {
        return "->".to_string();
    }
    match rest.chars().next() {
        Some('\n') | Some('\r') | None => String::new(),
        Some(c) => c.to_string(),
    }
}

fn describe_literal(token: &str) -> Option<String> {
    match token {
        "" | " " | "\t" | "\r" | "\n" | "\u{FEFF}" | "//" => None,
        "\"" => Some("a string".to_string()),
        "-" | "@" | "_" => None,
        t if t.len() == 4 && t.get(1..3) == Some("..") => None,
        t if t.chars().all(|c| c.is_ascii_digit() || c == '.') => None,
        t => Some(format!("`{t}`")),
    }
}

/// Words for a grammar rule, or `None` for rules a user need not hear about.
fn describe(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::ident | Rule::word => "a name",
        Rule::type_expr | Rule::list_type => "a type",
        Rule::expr
        | Rule::expr_stmt
        | Rule::for_expr
        | Rule::if_expr
        | Rule::try_expr
        | Rule::postfix_expr
        | Rule::free_call
        | Rule::list_lit
        | Rule::object_lit
        | Rule::self_kw => "an expression",
        Rule::object_member => "a `\"key\": value` pair",
        Rule::int_lit | Rule::float_lit => "a number",
        Rule::duration_lit => "a duration such as `30s`",
        Rule::string_lit => "a string",
        Rule::bool_lit => "`true` or `false`",
        Rule::null_lit => "`null`",
        Rule::annotation => "an annotation",
        Rule::mut_kw => "`mut`",
        Rule::static_kw => "`static`",
        Rule::override_kw => "`override`",
        Rule::k_package => "`package`",
        Rule::k_use => "`use`",
        Rule::k_record => "`record`",
        Rule::k_class => "`class`",
        Rule::k_extends => "`extends`",
        Rule::k_state => "`state`",
        Rule::k_file => "`file`",
        Rule::k_ref => "`ref`",
        Rule::k_fn => "`fn`",
        Rule::k_macro => "`macro`",
        Rule::k_let => "`let`",
        Rule::k_return => "`return`",
        Rule::k_for => "`for`",
        Rule::k_in => "`in`",
        Rule::params => "`(`",
        Rule::ret_type => "`->`",
        Rule::default => "`=`",
        Rule::optional_mark => "`?`",
        Rule::call_args | Rule::ann_args | Rule::oal_args => "`(`",
        Rule::call_suffix | Rule::field_suffix => "`.`",
        Rule::macro_body | Rule::for_body | Rule::block => "`{`",
        Rule::k_if => "`if`",
        Rule::k_else => "`else`",
        Rule::k_try => "`try`",
        Rule::k_catch => "`catch`",
        Rule::k_after => "`after`",
        Rule::k_tolerate | Rule::for_tolerate => "`tolerate`",
        Rule::tolerance => "a count such as `2` or a share such as `10%`",
        Rule::infix_op => "an operator",
        Rule::after_clause => "`after`",
        Rule::class_end => "`}`",
        Rule::extends_clause => "`extends`",
        Rule::param => "a parameter",
        Rule::arg | Rule::oal_arg => "an argument",
        Rule::record_field => "a field",
        Rule::path => "a qualified name such as `video.Video`",
        Rule::object_id => "an object id",
        Rule::object_call | Rule::static_call | Rule::access_expr => {
            "a call such as `vid42:get()` or `video.Video.new()`"
        }
        Rule::file_suffix => "`/`",
        Rule::json_value | Rule::json_object | Rule::json_array | Rule::bare_word => "a value",
        // Modifiers are listed one by one from the tokens; the end of input depends on what
        // was parsed (a line, a file, an expression).
        _ => return None,
    })
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
