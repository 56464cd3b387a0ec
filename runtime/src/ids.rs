//! Typed ids: invocations, tasks (with their node and map-element forms), objects, and what a
//! call targets. Each id's format is written here and nowhere else.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_string())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// An invocation: one request to run a function or macro (UUIDv7, sortable by time).
    InvocationId
);
string_id!(
    /// One function call on one object: `{invocation}.n0` for a direct call, and
    /// `{scope}.n{node}` plus `.e{i}` per enclosing map element for a macro's calls.
    TaskId
);
string_id!(
    /// What makes two calls of an `@memo` function the same call: SHA-256 (hex) of the
    /// package version, class, function, object version, arguments and the versions of the
    /// objects passed in (computed by the calls layer's `memo` module).
    MemoKey
);
string_id!(
    /// An object (UUIDv7 when created by a request, UUIDv5 of its task when a task outputs it).
    ObjectId
);

impl InvocationId {
    /// A new id.
    pub fn new() -> InvocationId {
        InvocationId(uuid::Uuid::now_v7().to_string())
    }

    /// The task of the call the invocation was made for (node 0).
    pub fn root_task(&self) -> TaskId {
        TaskId(joined(&[&self.0, ".n0"]))
    }
}

impl Default for InvocationId {
    fn default() -> Self {
        InvocationId::new()
    }
}

/// The enclosing map elements of a macro node: `.e{i}` per level, outermost first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ElementPath(String);

impl ElementPath {
    /// The path one level deeper, at element `index`.
    pub fn element(&self, index: usize) -> ElementPath {
        ElementPath(joined(&[&self.0, ".e", itoa::Buffer::new().format(index)]))
    }
}

/// Where the tasks of one macro run get their ids: the invocation for a top-level macro, the
/// calling task for a macro called from a macro.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskScope(String);

impl TaskScope {
    /// The scope of a macro run for `task`: a top-level macro's nodes are numbered under its
    /// invocation, a nested macro's under the task that called it.
    pub fn of(invocation: &InvocationId, task: &TaskId) -> TaskScope {
        if task.is_root_of(invocation) {
            TaskScope(invocation.0.clone())
        } else {
            TaskScope(task.0.clone())
        }
    }
}

/// The key of a node's status in an invocation record: `n{node}` plus its element path.
pub fn node_key(node: u32, path: &ElementPath) -> String {
    joined(&["n", itoa::Buffer::new().format(node), &path.0])
}

/// `parts` in one string, allocated once: ids are made for every macro step, and `format!`
/// cost a sizeable share of a step's instructions (bench/RESULTS.md).
fn joined(parts: &[&str]) -> String {
    let mut s = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        s.push_str(p);
    }
    s
}

impl TaskId {
    /// The task of macro node `node` at `path` in `scope`.
    pub fn node(scope: &TaskScope, node: u32, path: &ElementPath) -> TaskId {
        TaskId(joined(&[
            &scope.0,
            ".n",
            itoa::Buffer::new().format(node),
            &path.0,
        ]))
    }

    /// Whether this is the root task of `invocation`.
    pub fn is_root_of(&self, invocation: &InvocationId) -> bool {
        self.0.len() == invocation.0.len() + 3
            && self.0.starts_with(invocation.as_str())
            && self.0.ends_with(".n0")
    }

    /// The deterministic id of this task's `index`-th output object: a task run twice writes
    /// the same outputs.
    pub fn output(&self, index: usize) -> ObjectId {
        ObjectId(
            uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_OID,
                format!("{}#{index}", self.0).as_bytes(),
            )
            .to_string(),
        )
    }

    /// The id of the `k`-th output allocated through the task's allocation URL.
    pub fn allocated(&self, k: usize) -> ObjectId {
        ObjectId(
            uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_OID,
                format!("{}#a{k}", self.0).as_bytes(),
            )
            .to_string(),
        )
    }
}

impl ObjectId {
    /// A new id for an object created by a request.
    pub fn new() -> ObjectId {
        ObjectId(uuid::Uuid::now_v7().to_string())
    }
}

impl Default for ObjectId {
    fn default() -> Self {
        ObjectId::new()
    }
}

/// What a call is made on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// A function of an object.
    Object(ObjectId),
    /// A static function of a class (qualified or unambiguous bare name).
    Class(String),
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn task_ids_follow_nodes_and_elements() {
        let inv = InvocationId::from("inv");
        let root = inv.root_task();
        assert_eq!(root.as_str(), "inv.n0");
        assert!(root.is_root_of(&inv));
        let scope = TaskScope::of(&inv, &root);
        let path = ElementPath::default().element(2).element(0);
        let t = TaskId::node(&scope, 3, &path);
        assert_eq!(t.as_str(), "inv.n3.e2.e0");
        assert!(!t.is_root_of(&inv));
        // A macro called from node 3 numbers its own nodes under that task.
        let nested = TaskScope::of(&inv, &t);
        assert_eq!(
            TaskId::node(&nested, 1, &ElementPath::default()).as_str(),
            "inv.n3.e2.e0.n1"
        );
        assert_eq!(node_key(3, &path), "n3.e2.e0");
        assert!(!TaskId::from("inv.n0.n0").is_root_of(&inv));
    }

    #[test]
    fn output_ids_are_deterministic_and_distinct() {
        let t = TaskId::from("inv.n0");
        assert_eq!(t.output(0), t.output(0));
        assert_ne!(t.output(0), t.output(1));
        assert_ne!(t.output(0), t.allocated(0));
    }

    #[test]
    fn targets_serialize_as_recorded() {
        let t = Target::Object(ObjectId::from("o1"));
        assert_eq!(serde_json::to_string(&t).unwrap(), r#"{"object":"o1"}"#);
        let c: Target = serde_json::from_str(r#"{"class":"p.C"}"#).unwrap();
        assert_eq!(c, Target::Class("p.C".into()));
    }
}
