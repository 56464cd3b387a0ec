//! The function-container protocol (`docs/protocol.md`): the task a container is sent and the
//! answer it gives.

use crate::ids::{InvocationId, TaskId};
use crate::store::ObjectVersion;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The protocol version sent in every task.
pub const PROTOCOL: &str = "oaas-task/1";

/// The JSON document POSTed to a container.
#[derive(Clone, Debug, Serialize)]
pub struct TaskRequest {
    /// [`PROTOCOL`].
    pub protocol: &'static str,
    /// Task id.
    pub task_id: TaskId,
    /// Invocation id.
    pub invocation_id: InvocationId,
    /// Package name.
    pub package: String,
    /// Qualified class.
    pub class: String,
    /// Function name.
    pub function: String,
    /// The class that declares the function (an ancestor, for inherited functions).
    pub declared_in: String,
    /// Arguments with defaults filled in.
    pub args: Map<String, Value>,
    /// The object, for object functions.
    #[serde(rename = "self")]
    pub self_: Option<SelfDocument>,
    /// The pre-allocated output object, for `-> Class`.
    pub output: Option<Value>,
    /// Output allocation, for `-> [Class]`.
    pub outputs: Option<Value>,
    /// The objects named by object-typed arguments, by id: class, version, state, refs and
    /// signed GET URLs of their files, so a function can read what it is given.
    pub objects: Map<String, Value>,
    /// Unix milliseconds after which the runtime stops waiting.
    pub deadline_ms: i64,
    /// The version `self` will get (for `mut` functions).
    #[serde(skip)]
    pub next_version: u64,
}

/// `self` in a task: the object version (shared with the runtime's cache, serialized without
/// copying its state), the signed URLs of its files, and where a `mut` function uploads new ones.
#[derive(Clone, Debug)]
pub struct SelfDocument {
    /// The version the task runs on.
    pub object: Arc<ObjectVersion>,
    /// File name -> `{"url", "media_type"}` for reading.
    pub files: Map<String, Value>,
    /// File name -> signed PUT URL of the next version (`mut` functions only).
    pub upload: Map<String, Value>,
}

impl Serialize for SelfDocument {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let o = &self.object;
        let mut map = serializer.serialize_map(Some(7))?;
        map.serialize_entry("id", &o.id)?;
        map.serialize_entry("class", &o.class)?;
        map.serialize_entry("version", &o.version)?;
        // The version's JSON text, written once for the store, the task and the answer.
        map.serialize_entry("state", o.state_json())?;
        map.serialize_entry("refs", &o.refs)?;
        map.serialize_entry("files", &self.files)?;
        map.serialize_entry("upload", &self.upload)?;
        map.end()
    }
}

/// One output object in a response.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct OutputReply {
    /// Allocated id (list outputs only).
    pub id: Option<crate::ids::ObjectId>,
    /// State fields.
    #[serde(default)]
    pub state: Map<String, Value>,
    /// Refs.
    #[serde(default)]
    pub refs: BTreeMap<String, Value>,
    /// Files uploaded to the output's URLs.
    #[serde(default)]
    pub files: Vec<String>,
}

/// A container's 2xx answer.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct TaskResponse {
    /// New state of `self` (merged key by key), for `mut`.
    pub state: Option<Map<String, Value>>,
    /// Files of `self` uploaded, for `mut`.
    #[serde(default)]
    pub files: Vec<String>,
    /// The output object.
    pub output: Option<OutputReply>,
    /// The output objects.
    pub outputs: Option<Vec<OutputReply>>,
    /// A value result.
    pub value: Option<Value>,
}

/// The body of a container's failure (any non-2xx status):
/// `{"error": {"message": "...", "retryable": true}}`, each part optional.
#[derive(Debug, Default, Deserialize)]
pub struct FailureBody {
    /// What failed.
    pub error: Option<FailureDetail>,
}

/// The `error` of a [`FailureBody`].
#[derive(Debug, Deserialize)]
pub struct FailureDetail {
    /// The message people see.
    pub message: Option<String>,
    /// Whether to retry; without it, `5xx` and `429` are retried.
    pub retryable: Option<bool>,
}
