//! Turns pest's parse errors into diagnostics that say, in words, what was expected: "expected
//! a type, found `->`" rather than rule names.

use super::lower::Rule;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::{floor_char_boundary, FileId, Span};
use pest::error::{Error, ErrorVariant, InputLocation};
use std::collections::BTreeSet;
use std::sync::Once;

/// Asks pest to record the literal tokens it expected, not only rule names.
pub(crate) fn enable_details() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| pest::set_error_detail(true));
}

/// A diagnostic for a pest error on `text[offset..]`.
pub(crate) fn to_diagnostic(
    file: FileId,
    text: &str,
    offset: usize,
    err: &Error<Rule>,
) -> Diagnostic {
    let local = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let at = floor_char_boundary(text, offset + local);
    let found = found_token(text, at);
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    let mut limit_hit = false;
    match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            for rule in positives {
                if let Some(words) = describe(*rule) {
                    wanted.insert(words.to_string());
                }
            }
        }
        ErrorVariant::CustomError { message } => {
            limit_hit = message.contains("limit");
        }
    }
    if let Some(attempts) = err.parse_attempts() {
        for token in attempts.expected_tokens() {
            let t = token.to_string();
            if let Some(words) = describe_literal(&t) {
                wanted.insert(words);
            }
        }
    }
    let span = Span::new(at, (at + found.len().max(1)).min(text.len()).max(at));
    if limit_hit {
        return Diagnostic::new(
            Code::E0001,
            file,
            span,
            "this file is nested too deeply to parse",
        )
        .label("nesting gets too deep here");
    }
    let found_words = if found.is_empty() {
        "the end of the file".to_string()
    } else {
        format!("`{found}`")
    };
    let message = if wanted.is_empty() {
        format!("unexpected {found_words}")
    } else {
        format!(
            "expected {}, found {found_words}",
            join_or(&wanted.into_iter().collect::<Vec<_>>())
        )
    };
    let label = if found.is_empty() {
        "the file ends here".to_string()
    } else {
        "unexpected here".to_string()
    };
    Diagnostic::new(Code::E0001, file, span, message).label(label)
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
        Some('\n') => "end of line".to_string(),
        Some(c) => c.to_string(),
        None => String::new(),
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
        Rule::modifier | Rule::access => "`public`, `internal` or `private`",
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
        Rule::macro_body | Rule::for_body => "`{`",
        Rule::class_end => "`}`",
        Rule::extends_clause => "`extends`",
        Rule::param => "a parameter",
        Rule::arg | Rule::oal_arg => "an argument",
        Rule::record_field => "a field",
        Rule::path => "a qualified name such as `video.Video`",
        Rule::object_id => "an object id",
        Rule::file_suffix => "`/`",
        Rule::json_value | Rule::json_object | Rule::json_array | Rule::bare_word => "a value",
        Rule::EOI => "the end of the input",
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
