//! The documents of the function-container protocol, `oaas-task/1` (docs/protocol.md).
//!
//! Both sides can use these types: a container reads a [`Task`] and answers a [`TaskResult`]
//! or an [`ErrorBody`]; the runtime writes the first and reads the others. Unknown keys are
//! ignored when reading, so either side may add keys without breaking the other.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The protocol version, the `protocol` key of every task.
pub const PROTOCOL: &str = "oaas-task/1";

/// CloudEvents binary-mode headers sent with every task.
pub mod headers {
    /// `1.0`.
    pub const CE_SPECVERSION: &str = "ce-specversion";
    /// The task id.
    pub const CE_ID: &str = "ce-id";
    /// [`super::CE_TYPE`].
    pub const CE_TYPE: &str = "ce-type";
    /// `/classes/{package.Class}/functions/{fn}`.
    pub const CE_SOURCE: &str = "ce-source";
    /// The object id (absent for static functions).
    pub const CE_SUBJECT: &str = "ce-subject";
    /// When the task was dispatched (RFC 3339).
    pub const CE_TIME: &str = "ce-time";
}

/// The value of `ce-specversion`.
pub const CE_SPECVERSION: &str = "1.0";
/// The value of `ce-type`.
pub const CE_TYPE: &str = "dev.oaas.task.v1";

fn default_protocol() -> String {
    PROTOCOL.to_string()
}

/// One task: one call of one function, the body of `POST /`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// [`PROTOCOL`].
    #[serde(default = "default_protocol")]
    pub protocol: String,
    /// `{invocation_id}.n{node}[.e{element}...]`.
    pub task_id: String,
    #[serde(default)]
    pub invocation_id: String,
    /// The package of `class`.
    #[serde(default)]
    pub package: String,
    /// The class the function is called on (`package.Class`): the class of `self`, or the
    /// class named in a static call.
    #[serde(default)]
    pub class: String,
    /// The function's name.
    #[serde(default)]
    pub function: String,
    /// The class whose declaration of the function runs: an ancestor of `class` for an
    /// inherited function. `None` means `class`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_in: Option<String>,
    /// Every parameter, defaults filled in.
    #[serde(default)]
    pub args: Map<String, Value>,
    /// The object (`self`); `None` for static functions.
    #[serde(rename = "self", default)]
    pub object: Option<TaskObject>,
    /// The output object of a `-> Class` function.
    #[serde(default)]
    pub output: Option<OutputSlot>,
    /// How to allocate the outputs of a `-> [Class]` function.
    #[serde(default)]
    pub outputs: Option<OutputsSlot>,
    /// Objects named by object-typed arguments, by id (`{id, class, version, state, refs,
    /// files}`), so a function can read what it is given.
    #[serde(default)]
    pub objects: Map<String, Value>,
    /// Unix time in milliseconds after which the runtime stops waiting.
    #[serde(default)]
    pub deadline_ms: Option<u64>,
}

impl Task {
    /// The `ce-source` header of this task.
    pub fn ce_source(&self) -> String {
        format!("/classes/{}/functions/{}", self.class, self.function)
    }
}

/// The object a task runs on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskObject {
    pub id: String,
    /// The object's class.
    #[serde(default)]
    pub class: String,
    #[serde(default)]
    pub version: u64,
    #[serde(default)]
    pub state: Map<String, Value>,
    /// Ref name -> object id, or list of object ids.
    #[serde(default)]
    pub refs: Map<String, Value>,
    /// A signed `GET` URL per file the object has (files never uploaded are absent).
    #[serde(default)]
    pub files: BTreeMap<String, FileUrl>,
    /// `mut` functions: a signed `PUT` URL per declared file. Empty otherwise.
    #[serde(default)]
    pub upload: BTreeMap<String, String>,
}

/// A file of the object: where to read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileUrl {
    /// A signed `GET` URL (honours `Range`).
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
}

/// The output object of a `-> Class` function, allocated in advance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputSlot {
    pub id: String,
    pub class: String,
    /// A signed `PUT` URL per file of the class.
    #[serde(default)]
    pub upload: BTreeMap<String, String>,
}

/// The outputs of a `-> [Class]` function.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputsSlot {
    pub class: String,
    /// `POST` (empty body) allocates one more output object: answers an [`Allocation`].
    pub allocate_url: String,
}

/// The answer of `POST allocate_url`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub id: String,
    /// A signed `PUT` URL per file of the class.
    #[serde(default)]
    pub upload: BTreeMap<String, String>,
}

/// A `2xx` answer. Every key is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    /// `mut` functions: the changed top-level keys of `self`'s state (merged key by key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Map<String, Value>>,
    /// `mut` functions: the files uploaded to `self.upload` URLs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// `-> Class` functions: the output object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<OutputResult>,
    /// `-> [Class]` functions: the output objects, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<OutputResult>>,
    /// Functions returning a value. Absent and `null` mean the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// One output object in a [`TaskResult`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputResult {
    /// Only in `outputs`, for objects allocated through `allocate_url`; the others get
    /// `uuid5(task_id, index)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub state: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub refs: Map<String, Value>,
    /// The files uploaded to this object's upload URLs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

/// A non-`2xx` answer's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorInfo,
}

/// What went wrong, and whether trying again may help.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    pub message: String,
    /// Without it, `5xx` and `429` are retried and other statuses are not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
}

impl ErrorBody {
    pub fn new(message: impl Into<String>, retryable: bool) -> Self {
        ErrorBody {
            error: ErrorInfo {
                message: message.into(),
                retryable: Some(retryable),
            },
        }
    }
}
