//! What a handler answers.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::ctx::Output;
use crate::error::FnError;

/// A handler's answer: a state patch (`mut`), a value, the output (`-> Class`) or the
/// outputs (`-> [Class]`). Files written through [`crate::Ctx::write_file`] are added on
/// their own.
///
/// ```
/// # use oaas_sdk::Reply;
/// let reply = Reply::value(42).set("count", 42);
/// ```
#[derive(Debug, Default)]
pub struct Reply {
    pub(crate) state: Map<String, Value>,
    pub(crate) value: Option<Value>,
    pub(crate) output: Option<Output>,
    pub(crate) outputs: Option<Vec<Output>>,
}

impl Reply {
    /// Nothing to say (a `mut` function with no change, or none returned).
    pub fn new() -> Self {
        Reply::default()
    }

    /// The function's result value.
    pub fn value(value: impl Into<Value>) -> Self {
        Reply {
            value: Some(value.into()),
            ..Reply::default()
        }
    }

    /// The function's result, any `Serialize` type.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, FnError> {
        Ok(Reply::value(serde_json::to_value(value)?))
    }

    /// The output object of a `-> Class` function.
    pub fn output(output: Output) -> Self {
        Reply {
            output: Some(output),
            ..Reply::default()
        }
    }

    /// The output objects of a `-> [Class]` function, in order.
    pub fn outputs(outputs: Vec<Output>) -> Self {
        Reply {
            outputs: Some(outputs),
            ..Reply::default()
        }
    }

    /// `mut` functions: set top-level state field `key` of `self` (others stay as they are).
    pub fn set(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.state.insert(key.into(), value.into());
        self
    }

    /// Also answer a value.
    pub fn with_value(mut self, value: impl Into<Value>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// Also answer the output object.
    pub fn with_output(mut self, output: Output) -> Self {
        self.output = Some(output);
        self
    }

    /// Also answer the output objects.
    pub fn with_outputs(mut self, outputs: Vec<Output>) -> Self {
        self.outputs = Some(outputs);
        self
    }
}
