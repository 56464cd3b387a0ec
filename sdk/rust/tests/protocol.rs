//! The documents written in docs/protocol.md read into the protocol types and back.

#![allow(clippy::unwrap_used)]

use oaas_sdk::protocol::{ErrorBody, Task, TaskResult, PROTOCOL};
use oaas_sdk::{json, Value};

fn doc_blocks() -> Vec<String> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/protocol.md"
    ))
    .unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```json") => current = Some(String::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

#[test]
fn the_request_example_reads_and_writes_back_the_same() {
    let blocks = doc_blocks();
    let raw: Value = serde_json::from_str(&blocks[0]).unwrap();
    let task: Task = serde_json::from_value(raw.clone()).unwrap();
    assert_eq!(task.protocol, PROTOCOL);
    assert_eq!(task.class, "video.Video");
    assert_eq!(task.ce_source(), "/classes/video.Video/functions/transcode");
    let object = task.object.as_ref().unwrap();
    assert_eq!(object.version, 3);
    assert_eq!(object.files["src"].media_type.as_deref(), Some("video/mp4"));
    assert!(task.output.as_ref().unwrap().upload.contains_key("src"));
    assert!(task.outputs.is_none());
    assert_eq!(serde_json::to_value(&task).unwrap(), raw);
}

#[test]
fn the_response_example_reads_and_writes_back_the_same() {
    let blocks = doc_blocks();
    let raw: Value = serde_json::from_str(&blocks[1]).unwrap();
    let result: TaskResult = serde_json::from_value(raw.clone()).unwrap();
    let outputs = result.outputs.as_ref().unwrap();
    assert_eq!(outputs.len(), 2);
    assert!(outputs[0].id.is_some() && outputs[1].id.is_none());
    assert_eq!(result.value, Some(json!(42)));
    // `refs: {}` is left out when written: absent and empty mean the same.
    let mut expected = raw;
    expected["output"].as_object_mut().unwrap().remove("refs");
    assert_eq!(serde_json::to_value(&result).unwrap(), expected);
}

#[test]
fn static_tasks_and_errors() {
    let task: Task = serde_json::from_value(json!({
        "protocol": PROTOCOL, "task_id": "I.n0", "invocation_id": "I", "package": "video",
        "class": "video.Detection", "function": "merge", "args": {"parts": ["a", "b"]},
        "self": null, "output": {"id": "x", "class": "video.Detection", "upload": {}},
        "outputs": null, "deadline_ms": 1
    }))
    .unwrap();
    assert!(task.object.is_none());
    assert_eq!(
        serde_json::to_value(TaskResult::default()).unwrap(),
        json!({})
    );
    let e: ErrorBody = serde_json::from_value(json!({"error": {"message": "m"}})).unwrap();
    assert_eq!(e.error.retryable, None);
    assert_eq!(
        serde_json::to_value(ErrorBody::new("m", true)).unwrap(),
        json!({"error": {"message": "m", "retryable": true}})
    );
}
