//! Memoized functions (`@memo`): a call whose inputs are those of a call recorded before
//! answers with that call's result, and no container runs. The inputs are the package
//! version, the class and function, the version of the object called on, the arguments and
//! the versions of the objects passed in; their hash is the [`MemoKey`], recorded with the
//! first call's task in the same commit ([`crate::store::Commit::memo`]). Outputs are
//! immutable, so a reused result may name the first call's output objects.

use super::tasks::Task;
use crate::ids::{MemoKey, TaskId};
use crate::store::ObjectVersion;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The tasks of one invocation that were answered by a recorded result, so its record can
/// say which nodes were reused. Shared by the invocation's calls through their context; a
/// context without one asks for fresh calls (`Cache-Control: no-cache`, `oaasc run --fresh`).
#[derive(Default, Debug)]
pub struct Reused {
    tasks: Mutex<HashSet<TaskId>>,
    /// Whether `tasks` holds any: every call asks, and most invocations reuse nothing, so
    /// they need not take the lock.
    any: AtomicBool,
}

impl Reused {
    /// Notes that `task` was answered by a recorded result.
    pub fn add(&self, task: &TaskId) {
        if let Ok(mut set) = self.tasks.lock() {
            set.insert(task.clone());
            self.any.store(true, Ordering::Release);
        }
    }

    /// Whether `task` was answered by a recorded result.
    pub fn contains(&self, task: &TaskId) -> bool {
        self.any.load(Ordering::Acquire) && self.tasks.lock().is_ok_and(|set| set.contains(task))
    }
}

/// The key of a task of an `@memo` function, from its inputs and the objects passed in
/// (`passed`, at the versions the task is given): `None` for a function without `@memo`.
/// Found before the task's document is built, so a reused result signs no URL.
pub fn key(task: &Task<'_>, passed: &[Arc<ObjectVersion>]) -> Option<MemoKey> {
    if !task.func.run.memo || task.func.mutates {
        return None;
    }
    let object = task
        .object
        .as_ref()
        .map(|o| json!([o.id, o.version]))
        .unwrap_or(Value::Null);
    // The objects passed in, by id, at the versions the task is given.
    let passed: Map<String, Value> = passed
        .iter()
        .map(|o| (o.id.to_string(), Value::from(o.version)))
        .collect();
    let inputs = json!({
        "package": task.resolved.artifact.version,
        "class": task.resolved.class.qualified,
        "function": task.func.name,
        "object": object,
        "args": task.args,
        "objects": passed,
    });
    // serde_json's maps are ordered by key, so equal inputs always print alike.
    let digest = Sha256::digest(inputs.to_string().as_bytes());
    Some(MemoKey::from(hex::encode(digest)))
}
