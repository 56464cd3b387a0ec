//! The API's request and response bodies, typed: the runtime writes them and clients (the
//! CLI among them) read them with the same definitions.

use crate::error::Error;
use crate::executor::{NodeFailure, PartialOutput};
use crate::ids::{InvocationId, ObjectId, TaskId};
use crate::store::{Invocation, InvocationRequest, InvocationStatus, NodeRecord};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

/// The answer to a call that ran to its result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CallResponse {
    /// The invocation.
    pub invocation_id: InvocationId,
    /// The call's task.
    pub task_id: TaskId,
    /// `succeeded`.
    pub status: InvocationStatus,
    /// A value, an object view, a list of object views, or null.
    pub result: Value,
}

/// The answer to an asynchronous call: `202 Accepted`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AcceptedResponse {
    /// The invocation.
    pub invocation_id: InvocationId,
    /// The call's task.
    pub task_id: TaskId,
    /// `pending`.
    pub status: InvocationStatus,
    /// The object the call will output, when it outputs one.
    pub output_id: Option<ObjectId>,
    /// Where to follow it.
    pub status_url: String,
}

/// An error as the API answers it: `{"error": ErrorBody}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The HTTP status it was (or would be) answered with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `bad_request`, `function_failed`, ...
    pub code: String,
    /// What happened.
    pub message: String,
    /// Details: `function`, `task_id`, `attempts`, a macro's `failures` and `nodes`, ...
    #[serde(flatten)]
    pub details: Map<String, Value>,
}

impl ErrorBody {
    /// The body of an error.
    pub fn of(e: &Error) -> ErrorBody {
        let details = match &e.details {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        };
        ErrorBody {
            status: Some(super::error::status_of(e.kind).as_u16()),
            code: e.kind.code().to_string(),
            message: e.message.clone(),
            details,
        }
    }
}

impl ErrorBody {
    /// The failures a macro's error lists, each at its call in the source.
    pub fn failures(&self) -> Vec<NodeFailure> {
        self.details
            .get("failures")
            .and_then(|f| serde_json::from_value(f.clone()).ok())
            .unwrap_or_default()
    }

    /// What a failed macro's calls made before it failed (objects output or changed).
    pub fn partial_outputs(&self) -> Vec<PartialOutput> {
        self.details
            .get("partial_outputs")
            .and_then(|f| serde_json::from_value(f.clone()).ok())
            .unwrap_or_default()
    }
}

/// `{"error": ...}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorBody,
}

/// `GET /api/invocations/{id}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InvocationResponse {
    /// The invocation.
    pub invocation_id: InvocationId,
    /// Where it stands.
    pub status: InvocationStatus,
    /// What was asked.
    pub request: InvocationRequest,
    /// Its result, once succeeded.
    pub result: Option<Value>,
    /// Its error, once failed.
    pub error: Option<ErrorBody>,
    /// The object it outputs, when it outputs one.
    pub output_id: Option<ObjectId>,
    /// A macro's nodes, by node key.
    pub nodes: BTreeMap<String, NodeRecord>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

impl InvocationResponse {
    /// Leaves out what only an admin may see: the outputs of nodes that call non-public
    /// members, in the record and in its error.
    pub fn redact(&mut self) {
        for node in self.nodes.values_mut() {
            if node.internal {
                node.output = None;
            }
        }
        if let Some(Value::Object(nodes)) =
            self.error.as_mut().and_then(|e| e.details.get_mut("nodes"))
        {
            for node in nodes.values_mut() {
                if node.get("internal").and_then(Value::as_bool) == Some(true) {
                    if let Some(n) = node.as_object_mut() {
                        n.remove("output");
                    }
                }
            }
        }
    }
}

impl From<Invocation> for InvocationResponse {
    fn from(inv: Invocation) -> InvocationResponse {
        InvocationResponse {
            invocation_id: inv.id,
            status: inv.status,
            request: inv.request,
            result: inv.result,
            error: inv.error.as_ref().map(ErrorBody::of),
            output_id: inv.output_id,
            nodes: inv.nodes,
            created_at: inv.created_at,
            updated_at: inv.updated_at,
        }
    }
}

/// `POST /api/packages` with sources to compile.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeployRequest {
    /// `.oaas` files by path.
    pub sources: HashMap<String, String>,
    /// The folder the package's `@local` commands run in.
    #[serde(default)]
    pub workdir: Option<PathBuf>,
}

/// The answer to a deploy.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeployResponse {
    /// The package version (content hash).
    pub version: String,
    /// The packages it holds.
    pub packages: Vec<String>,
    /// Their classes, qualified.
    pub classes: Vec<String>,
}

/// One current package.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PackageEntry {
    /// Its name.
    pub name: String,
    /// Its current version.
    pub version: String,
}

/// `GET /api/packages`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PackagesResponse {
    /// The current packages.
    pub packages: Vec<PackageEntry>,
}

/// `GET /api/classes/{cls}/objects`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ObjectPage {
    /// Object views.
    pub items: Vec<Value>,
    /// Where the next page starts, when this one was full.
    pub next_after: Option<ObjectId>,
}

/// `GET /api/objects/{id}/versions`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VersionsResponse {
    /// Every version, oldest first.
    pub versions: Vec<Value>,
}

/// `GET /healthz`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Health {
    /// `ok`, or `unavailable` (answered with 503) when the store or the blobs cannot be
    /// reached.
    pub status: String,
    /// Current packages.
    pub packages: usize,
    /// Running local containers.
    pub containers: usize,
    /// The store (the SQLite file or the PostgreSQL database).
    pub store: Check,
    /// The blobs (the folder or the bucket).
    pub blobs: Check,
}

/// Whether a service the runtime needs answers, and why not.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Check {
    /// It answered in time.
    pub ok: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `POST /api/tokens`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MintRequest {
    /// `read`, `invoke` or `deploy`.
    pub role: crate::tokens::Role,
    /// The packages a `deploy` token may deploy (all when absent).
    #[serde(default)]
    pub packages: Option<Vec<String>>,
}

/// One minted token, without its secret.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenEntry {
    /// Its id.
    pub id: String,
    /// Its role.
    pub role: crate::tokens::Role,
    /// The packages it is limited to.
    pub packages: Option<Vec<String>>,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// `GET /api/tokens`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokensResponse {
    /// Every minted token.
    pub tokens: Vec<TokenEntry>,
}

/// One source file of a package.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SourceText {
    /// Its path as the package was built from.
    pub path: String,
    /// Its text.
    pub text: String,
}

/// `GET /api/packages/{name}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PackageSources {
    /// The package.
    pub name: String,
    /// Its current version.
    pub version: String,
    /// Its classes, qualified.
    pub classes: Vec<String>,
    /// The sources of the version.
    pub sources: Vec<SourceText>,
}

/// One invocation in a list: what was asked and how it stands, without nodes or result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InvocationSummary {
    /// The invocation.
    pub invocation_id: InvocationId,
    /// Where it stands.
    pub status: InvocationStatus,
    /// What was asked.
    pub request: InvocationRequest,
    /// How many macro nodes it recorded.
    pub nodes: usize,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
    /// Milliseconds from start to outcome, once finished.
    pub duration_ms: Option<i64>,
}

impl From<Invocation> for InvocationSummary {
    fn from(inv: Invocation) -> InvocationSummary {
        let finished = inv.status != InvocationStatus::Pending;
        InvocationSummary {
            duration_ms: finished.then_some(inv.updated_at - inv.created_at),
            invocation_id: inv.id,
            status: inv.status,
            request: inv.request,
            nodes: inv.nodes.len(),
            created_at: inv.created_at,
            updated_at: inv.updated_at,
        }
    }
}

/// `GET /api/invocations`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InvocationPage {
    /// Newest first.
    pub items: Vec<InvocationSummary>,
    /// Pass as `before` for the next page; null when this page was not full.
    pub next_before: Option<InvocationId>,
}
