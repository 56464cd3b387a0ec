//! Values the runtime computes itself, without a container: the operators and value
//! builtins of macro bodies (`+`, `==`, `not`, `len`, `sum`, `min`, `max`, ...). Pure
//! functions of JSON values, so a run resumed after a crash computes the same.

use crate::error::{Error, Result};
use serde_json::{Number, Value};
use std::cmp::Ordering;

/// Applies an operator (as the artifact names it) to evaluated operands. `and` and `or` are
/// short-circuited by the caller and reach here only with both sides.
pub fn apply(op: &str, args: &[Value]) -> Result<Value> {
    match (op, args) {
        ("not", [a]) => Ok(Value::Bool(!truth(a, "`not`")?)),
        ("neg", [a]) => negate(a),
        ("and", [a, b]) => Ok(Value::Bool(truth(a, "`and`")? && truth(b, "`and`")?)),
        ("or", [a, b]) => Ok(Value::Bool(truth(a, "`or`")? || truth(b, "`or`")?)),
        ("==", [a, b]) => Ok(Value::Bool(equal(a, b))),
        ("!=", [a, b]) => Ok(Value::Bool(!equal(a, b))),
        ("<" | "<=" | ">" | ">=", [a, b]) => {
            let ord = compare(a, b, op)?;
            Ok(Value::Bool(match op {
                "<" => ord == Ordering::Less,
                "<=" => ord != Ordering::Greater,
                ">" => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            }))
        }
        ("+", [Value::String(a), b]) => Ok(Value::String(format!("{a}{}", text(b)))),
        ("+", [a, Value::String(b)]) => Ok(Value::String(format!("{}{b}", text(a)))),
        ("+" | "-" | "*" | "/" | "%", [a, b]) => arithmetic(op, a, b),
        ("format", parts) => Ok(Value::String(parts.iter().map(text).collect())),
        ("len", [a]) => len(a),
        ("sum", [a]) => sum(list(a, "sum")?),
        ("min" | "max", [a]) => extreme(op, list(a, op)?),
        _ => Err(Error::bad_request(format!(
            "unknown operator `{op}` with {} operand(s)",
            args.len()
        ))),
    }
}

/// A condition's value: `true` or `false` (`null` counts as false).
pub fn truth(v: &Value, what: &str) -> Result<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Null => Ok(false),
        other => Err(Error::bad_request(format!(
            "{what} needs a `bool`, but got {other}"
        ))),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x == y,
        _ => a == b,
    }
}

fn compare(a: &Value, b: &Value, op: &str) -> Result<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => Ok(i.cmp(&j)),
            _ => x
                .as_f64()
                .zip(y.as_f64())
                .and_then(|(x, y)| x.partial_cmp(&y))
                .ok_or_else(|| Error::bad_request("numbers that do not compare")),
        },
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        _ => Err(Error::bad_request(format!(
            "`{op}` compares two numbers or two strings, not {a} and {b}"
        ))),
    }
}

fn negate(a: &Value) -> Result<Value> {
    match a.as_i64() {
        Some(i) => i
            .checked_neg()
            .map(Value::from)
            .ok_or_else(|| Error::bad_request("`-` overflows")),
        None => a
            .as_f64()
            .map(|f| float(-f))
            .ok_or_else(|| Error::bad_request(format!("`-` needs a number, not {a}")))?,
    }
}

fn float(f: f64) -> Result<Value> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| Error::bad_request("the result is not a finite number"))
}

fn arithmetic(op: &str, a: &Value, b: &Value) -> Result<Value> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        let r = match op {
            "+" => x.checked_add(y),
            "-" => x.checked_sub(y),
            "*" => x.checked_mul(y),
            _ if y == 0 => return Err(Error::bad_request(format!("`{op}` by zero"))),
            "/" => x.checked_div(y),
            _ => x.checked_rem(y),
        };
        return r
            .map(Value::from)
            .ok_or_else(|| Error::bad_request(format!("`{op}` overflows")));
    }
    let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) else {
        return Err(Error::bad_request(format!(
            "`{op}` needs two numbers, not {a} and {b}"
        )));
    };
    match op {
        "+" => float(x + y),
        "-" => float(x - y),
        "*" => float(x * y),
        "/" => float(x / y),
        _ => float(x % y),
    }
}

fn list<'a>(v: &'a Value, op: &str) -> Result<&'a [Value]> {
    match v {
        Value::Array(items) => Ok(items),
        Value::Null => Ok(&[]),
        other => Err(Error::bad_request(format!(
            "`{op}` needs a list, not {other}"
        ))),
    }
}

fn len(v: &Value) -> Result<Value> {
    match v {
        Value::Array(items) => Ok(Value::from(items.len())),
        Value::String(s) => Ok(Value::from(s.chars().count())),
        Value::Null => Ok(Value::from(0)),
        other => Err(Error::bad_request(format!(
            "`len` needs a list or a string, not {other}"
        ))),
    }
}

fn sum(items: &[Value]) -> Result<Value> {
    let mut total = Value::from(0);
    for x in items {
        total = arithmetic("+", &total, x)?;
    }
    Ok(total)
}

fn extreme(op: &str, items: &[Value]) -> Result<Value> {
    let mut best: Option<&Value> = None;
    for x in items {
        best = Some(match best {
            None => x,
            Some(b) => {
                let ord = compare(x, b, op)?;
                let better = if op == "min" {
                    ord == Ordering::Less
                } else {
                    ord == Ordering::Greater
                };
                if better {
                    x
                } else {
                    b
                }
            }
        });
    }
    best.cloned()
        .ok_or_else(|| Error::bad_request(format!("`{op}` of an empty list")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_keep_their_kind() {
        assert_eq!(apply("+", &[json!(2), json!(3)]).unwrap(), json!(5));
        assert_eq!(apply("/", &[json!(7), json!(2)]).unwrap(), json!(3));
        assert_eq!(apply("*", &[json!(1.5), json!(2)]).unwrap(), json!(3.0));
        assert_eq!(apply("neg", &[json!(4)]).unwrap(), json!(-4));
        assert!(apply("/", &[json!(1), json!(0)]).is_err());
        assert!(apply("+", &[json!(i64::MAX), json!(1)]).is_err());
    }

    #[test]
    fn comparisons_and_strings() {
        assert_eq!(
            apply(">", &[json!(1000.5), json!(1000)]).unwrap(),
            json!(true)
        );
        assert_eq!(apply("==", &[json!(1), json!(1.0)]).unwrap(), json!(true));
        assert_eq!(
            apply("!=", &[json!(null), json!("a")]).unwrap(),
            json!(true)
        );
        assert_eq!(apply("<", &[json!("a"), json!("b")]).unwrap(), json!(true));
        assert!(apply("<", &[json!(null), json!(1)]).is_err());
        assert_eq!(
            apply("+", &[json!("paid "), json!(12.5)]).unwrap(),
            json!("paid 12.5")
        );
    }

    #[test]
    fn list_builtins() {
        assert_eq!(apply("len", &[json!([1, 2, 3])]).unwrap(), json!(3));
        assert_eq!(apply("sum", &[json!([1, 2, 3])]).unwrap(), json!(6));
        assert_eq!(apply("sum", &[json!([1, 2.5])]).unwrap(), json!(3.5));
        assert_eq!(apply("min", &[json!([3, 1, 2])]).unwrap(), json!(1));
        assert_eq!(apply("max", &[json!(["a", "c", "b"])]).unwrap(), json!("c"));
        assert!(apply("max", &[json!([])]).is_err());
        assert_eq!(apply("not", &[json!(false)]).unwrap(), json!(true));
    }
}
