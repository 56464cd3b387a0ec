//! Signals sent to an invocation (`POST /api/invocations/{id}/signals/{name}`): checked
//! against the waits its macro declares, then kept in the store until a wait takes it.

use super::Invocations;
use crate::calls::waits::MAX_WAITING_SIGNALS;
use crate::error::{Error, Result};
use crate::ids::InvocationId;
use crate::store::{InvocationStatus, SignalOutcome};
use crate::values;
use oaas_compiler::artifact::{Artifact, GraphArtifact, NodeOp, TypeRef};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Most bytes of a signal's value, as JSON.
pub const MAX_SIGNAL_BYTES: usize = 64 * 1024;

impl Invocations {
    /// Sends the signal `name` with `value` to invocation `id`: kept until one of its waits
    /// for `name` takes it (one that is waiting now, or the next to reach it), once.
    pub async fn signal(&self, id: &InvocationId, name: &str, value: Value) -> Result<()> {
        if !oaas_compiler::check::valid_signal_name(name) {
            return Err(Error::bad_request(format!(
                "`{name}` is not a signal name: 1 to {} letters, digits, `_`, `-` or `.`",
                oaas_compiler::check::MAX_SIGNAL_NAME
            )));
        }
        let inv = self.get(id).await?;
        if inv.status != InvocationStatus::Pending {
            return Err(finished(id, inv.status));
        }
        let resolved = self.calls.resolve(&inv.request.target).await?;
        let function = &inv.request.function;
        let Some(m) = resolved.macro_named(function) else {
            return Err(Error::unprocessable(format!(
                "invocation `{id}` runs the function `{function}`, not a macro: nothing in it waits for signals"
            )));
        };
        let mut waits = BTreeMap::new();
        let mut seen = BTreeSet::new();
        collect_waits(&resolved.artifact, &m.graph, &mut waits, &mut seen);
        let Some(ty) = waits.get(name) else {
            let known: Vec<&str> = waits.keys().map(String::as_str).collect();
            let known = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            };
            return Err(Error::unprocessable(format!(
                "macro `{function}` waits for no signal `{name}`; it waits for: {known}"
            )));
        };
        values::check(&resolved.artifact, &value, ty).map_err(|e| {
            Error::unprocessable(format!(
                "the signal `{name}` carries a `{}`: {e}",
                values::type_name(ty)
            ))
        })?;
        let outcome = self
            .store
            .put_signal(id, name, &value, MAX_WAITING_SIGNALS)
            .await?;
        match outcome {
            SignalOutcome::Stored => {
                self.calls.waits.signalled();
                Ok(())
            }
            SignalOutcome::UnknownInvocation => {
                Err(Error::not_found(format!("there is no invocation `{id}`")))
            }
            SignalOutcome::Finished(status) => Err(finished(id, status)),
            SignalOutcome::TooMany(n) => Err(Error::conflict(format!(
                "invocation `{id}` holds {n} signals no wait has taken yet, the most it keeps; send more once its waits have taken some"
            ))),
        }
    }
}

/// The error of a signal to an invocation that has finished.
fn finished(id: &InvocationId, status: InvocationStatus) -> Error {
    Error::conflict(format!(
        "invocation `{id}` has finished ({}): nothing in it waits for signals any more",
        status.as_str()
    ))
    .with(json!({"invocation_id": id, "status": status}))
}

/// The signals waited for in a graph and in the macros it calls, with their types.
fn collect_waits(
    artifact: &Artifact,
    graph: &GraphArtifact,
    out: &mut BTreeMap<String, TypeRef>,
    seen: &mut BTreeSet<(String, String)>,
) {
    for node in &graph.nodes {
        match &node.op {
            NodeOp::Wait {
                signal: Some(name),
                ty,
                ..
            } => {
                out.entry(name.clone())
                    .or_insert_with(|| ty.clone().unwrap_or(TypeRef::Json));
            }
            NodeOp::Wait { .. } | NodeOp::Compute { .. } | NodeOp::Flatten { .. } => {}
            NodeOp::Call {
                class, function, ..
            } => {
                let called = artifact.class(class).and_then(|c| c.macro_named(function));
                if let Some(m) = called {
                    if seen.insert((class.clone(), function.clone())) {
                        collect_waits(artifact, &m.graph, out, seen);
                    }
                }
            }
            NodeOp::Map { body, .. } => collect_waits(artifact, body, out, seen),
            NodeOp::If {
                then, otherwise, ..
            } => {
                collect_waits(artifact, then, out, seen);
                collect_waits(artifact, otherwise, out, seen);
            }
            NodeOp::Try { body, catch, .. } => {
                collect_waits(artifact, body, out, seen);
                collect_waits(artifact, catch, out, seen);
            }
        }
    }
}
