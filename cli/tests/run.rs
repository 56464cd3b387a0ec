//! `oaasc run` end to end: the real binary, an embedded runtime, real Python containers.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `oaasc run` from the repository root with a fresh data folder.
fn run(args: &[&str]) -> (i32, String, String) {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_oaasc"))
        .arg("run")
        .args(args)
        .args(["--data", data.path().to_str().unwrap()])
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "[id]",
        ),
        (r"sha256:[0-9a-f]{12}", "sha256:[hash]"),
    ]
}

#[test]
fn a_macro_runs_and_prints_its_result() {
    let (code, stdout, stderr) = run(&[
        "runtime/tests/fixtures/flow",
        "Num.diamond",
        "--new",
        "value=1",
    ]);
    assert_eq!(code, 0, "{stderr}");
    insta::with_settings!({filters => filters()}, {
        insta::assert_snapshot!("run_success", stdout);
    });
    assert!(stderr.contains("4 nodes done"), "{stderr}");
}

#[test]
fn a_failure_is_drawn_at_the_macro_line() {
    let (code, stdout, stderr) = run(&[
        "runtime/tests/fixtures/flow",
        "Num.fails_in_branch",
        "--new",
        "value=0",
        "--arg",
        "n=4",
        "--arg",
        "bad=2",
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let drawn: String = stderr
        .lines()
        .filter(|l| !l.starts_with("deployed") && !l.starts_with("created"))
        .collect::<Vec<_>>()
        .join("\n");
    insta::with_settings!({filters => filters()}, {
        insta::assert_snapshot!("run_failure", drawn);
    });
    assert!(stderr.contains("value 2 is not allowed"));
    assert!(stderr.contains("flow.oaas:"), "{stderr}");
}

#[test]
fn a_bad_argument_value_is_refused_before_anything_runs() {
    let (code, stdout, stderr) = run(&[
        "runtime/tests/fixtures/flow",
        "Num.fan",
        "--new",
        "value=1",
        "--arg",
        "n=many",
    ]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    insta::assert_snapshot!("run_bad_argument", stderr);
    let (code, _, stderr) = run(&[
        "runtime/tests/fixtures/flow",
        "Num.fan",
        "--new",
        "value=1",
        "--arg",
        "count=3",
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("has no parameter `count`; its parameters are `n`"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&["runtime/tests/fixtures/flow", "Num.nothing"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("class `Num` has no function `nothing`"),
        "{stderr}"
    );
    // A likely typo is named.
    for (target, near) in [("Num.ad", "`add`"), ("Nmu.add", "`flow.Num`")] {
        let (code, _, stderr) = run(&["runtime/tests/fixtures/flow", target]);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(&format!("(did you mean {near}?)")),
            "{stderr}"
        );
    }
    // A class's function written like an object's is told the call it likely meant,
    // before anything is deployed.
    for (target, told) in [
        (
            "flow.Num:add(by=1)",
            "a class's function is called as `flow.Num.add(by=1)`",
        ),
        (
            "Num:add(by=1)",
            "`Num` is the class `flow.Num`: write `Num.add(by=1)`",
        ),
    ] {
        let (code, _, stderr) = run(&["runtime/tests/fixtures/flow", target]);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains(told), "{stderr}");
        assert!(!stderr.contains("deployed"), "{stderr}");
    }
}

#[test]
fn the_examples_run() {
    // The record workload: reads and `mut` calls on one object, in source order.
    let (code, stdout, stderr) = run(&[
        "examples/record",
        "Record.bump_twice",
        "--arg",
        "key=k",
        "--arg",
        "value=v",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), "2");
    // The text workload: a three-step chain making new immutable objects.
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("hello.txt");
    std::fs::write(&body, "hello").unwrap();
    let (code, stdout, stderr) = run(&[
        "examples/text",
        "Text.chain",
        "--file",
        &format!("body={}", body.display()),
        "--arg",
        "first= big",
        "--arg",
        "second= world",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("length: 15"), "{stdout}");
}

#[test]
fn missing_or_bad_values_are_refused_before_anything_is_deployed_or_created() {
    // A required argument left out: nothing deployed, nothing created.
    let (code, stdout, stderr) = run(&["examples/record", "Record.bump_twice", "--arg", "key=k"]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("missing the required argument(s) `value"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("deployed") && !stderr.contains("created"),
        "{stderr}"
    );
    // A state field of the wrong type.
    let (code, _, stderr) = run(&[
        "examples/record",
        "Record.bump_twice",
        "--new",
        "count=abc",
        "--arg",
        "key=k",
        "--arg",
        "value=v",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("count") && !stderr.contains("deployed"),
        "{stderr}"
    );
    // A file the class does not declare, or that cannot be read.
    let (code, _, stderr) = run(&["examples/text", "Text.chain", "--file", "nothing=x.txt"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(!stderr.contains("deployed"), "{stderr}");
    // An error of the embedded runtime reads as a message, not as an HTTP answer.
    let (code, _, stderr) = run(&["examples/record", "no-such-object:increment(by=1)"]);
    assert_eq!(code, 2, "{stderr}");
    let last = stderr.lines().last().unwrap_or("");
    assert!(
        last.contains("there is no object") && !last.ends_with("(404)"),
        "{stderr}"
    );
}

#[test]
fn every_subcommand_has_help() {
    for c in [
        "check",
        "build",
        "graph",
        "serve",
        "run",
        "deploy",
        "invoke",
        "objects",
        "invocations",
        "packages",
        "signal",
        "token",
        "fmt",
        "lsp",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_oaasc"))
            .args([c, "--help"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{c} --help: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{c}"
        );
    }
}

#[test]
fn the_video_example_finds_the_face_in_a_real_photograph() {
    // A clip made from scikit-image's astronaut photograph (needs examples/video/requirements.txt).
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    let made = Command::new("python3")
        .arg(root().join("examples/video/tools/make_clip.py"))
        .arg(&clip)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "make_clip.py failed (pip install -r examples/video/requirements.txt): {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let (code, stdout, stderr) = run(&[
        "examples/video",
        "Video.detect_faces",
        "--new",
        "title=clip",
        "--file",
        &format!("src={}", clip.display()),
        "--arg",
        "every_s=1",
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let detection = &v["result"];
    assert_eq!(detection["class"], "video.Detection");
    let faces = detection["state"]["faces"].as_array().unwrap();
    let frames = detection["state"]["frames_scanned"].as_i64().unwrap();
    assert!(frames >= 5, "{detection}");
    // The astronaut's face is found on (nearly) every frame scanned.
    assert!(faces.len() as i64 >= frames - 1, "{detection}");
    assert!(
        faces
            .iter()
            .all(|f| f["w"].as_i64().unwrap() > 20 && f["score"].as_f64().unwrap() >= 0.5),
        "{detection}"
    );
}

/// A decision, a value computed by the runtime and a `try` around a builtin call, end to end
/// on the embedded runtime: both branches of the `if`.
#[test]
fn a_macro_decides_computes_and_catches_without_a_container() {
    let dir = "tests/fixtures/run/counter";
    let (code, stdout, stderr) = run(&[dir, "Counter.bump", "--new", "n=1", "--arg", "limit=3"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), "\"bumped to 2\"", "{stderr}");
    let (code, stdout, stderr) = run(&[dir, "Counter.bump", "--new", "n=5", "--arg", "limit=3"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), "\"full at 5\"", "{stderr}");
}

#[test]
fn new_takes_state_from_arg_and_a_function_of_a_new_object_points_to_new() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    std::fs::write(&clip, b"not really a video").unwrap();
    let file = format!("src={}", clip.display());
    // On `new`, `--arg` sets state fields, with a file too.
    let (code, stdout, stderr) = run(&[
        "examples/video",
        "Video.new",
        "--arg",
        "title=blue",
        "--file",
        &file,
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("title: \"blue\""), "{stdout}");
    assert!(stdout.contains("file src: uploaded"), "{stdout}");
    // On a function of an object made first, a state field given as `--arg` is refused
    // before anything runs, with the flag that sets it.
    let (code, _, stderr) = run(&[
        "examples/video",
        "Video.detect_faces",
        "--arg",
        "title=blue",
        "--file",
        &file,
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("`title` is a state field of `Video`: give the new object's state with --new title=VALUE"),
        "{stderr}"
    );
    assert!(!stderr.contains("deployed"), "{stderr}");
}
