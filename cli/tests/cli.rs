//! The real `oaasc` binary, run from the workspace root with relative paths: exit codes, the
//! three output formats (snapshotted), `--deny-warnings`, `--help`.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A small broken package: two syntax errors in two classes.
const BROKEN: &str = "cli/tests/fixtures/broken";
/// A package whose only problem is a warning.
const WARN: &str = "cli/tests/fixtures/warn";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `oaasc ARGS` in `dir` (relative to the workspace root), without colour.
fn oaasc_in(dir: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oaasc"))
        .args(args)
        .current_dir(workspace_root().join(dir))
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn oaasc(args: &[&str]) -> Output {
    oaasc_in(".", args)
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fresh directory under cargo's scratch space for this test target.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Snapshot settings that hide the scratch directory's absolute path.
fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(&regex_escape(env!("CARGO_TARGET_TMPDIR")), "[TMP]");
    s
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$#&-~".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

#[test]
fn examples_check_clean() {
    let out = oaasc(&["check", "examples"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("no problems"), "{}", stderr(&out));
}

#[test]
fn examples_check_clean_in_every_format() {
    for format in ["json", "github"] {
        let out = oaasc(&["check", "--format", format, "--deny-warnings", "examples"]);
        assert_eq!(code(&out), 0, "{format}: {}", stdout(&out));
        assert_eq!(stdout(&out), "", "{format}");
    }
}

#[test]
fn invalid_fixture_fails() {
    let out = oaasc(&[
        "check",
        "tests/fixtures/syntax/invalid/three_errors_three_classes.oaas",
    ]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("E0001"), "{}", stderr(&out));
}

#[test]
fn human_format() {
    let out = oaasc(&["check", BROKEN]);
    assert_eq!(code(&out), 1);
    assert_eq!(stdout(&out), "");
    insta::assert_snapshot!(stderr(&out));
}

#[test]
fn json_format() {
    let out = oaasc(&["check", "--format", "json", BROKEN]);
    assert_eq!(code(&out), 1);
    for line in stdout(&out).lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        for key in ["code", "severity", "message", "file", "line", "column"] {
            assert!(value.get(key).is_some(), "{key} missing in {line}");
        }
    }
    insta::assert_snapshot!(stdout(&out));
}

#[test]
fn github_format() {
    let out = oaasc(&["check", "--format", "github", BROKEN]);
    assert_eq!(code(&out), 1);
    assert!(stdout(&out).lines().all(|l| l.starts_with("::")));
    insta::assert_snapshot!(stdout(&out));
}

#[test]
fn warnings_fail_only_when_denied() {
    let allowed = oaasc(&["check", WARN]);
    assert_eq!(code(&allowed), 0, "{}", stderr(&allowed));
    insta::assert_snapshot!("warnings_allowed", stderr(&allowed));
    let denied = oaasc(&["check", "--deny-warnings", WARN]);
    assert_eq!(code(&denied), 1, "{}", stderr(&denied));
    let json = oaasc(&["check", "--deny-warnings", "--format", "json", WARN]);
    assert_eq!(code(&json), 1);
    assert!(stdout(&json).contains("\"severity\":\"warning\""));
}

#[test]
fn default_path_is_the_current_directory() {
    let out = oaasc_in(WARN, &["check"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("warn.oaas"), "{}", stderr(&out));
}

#[test]
fn missing_path_is_a_usage_error() {
    let out = oaasc(&["check", "no/such/place.oaas"]);
    assert_eq!(code(&out), 2);
    assert_eq!(stdout(&out), "");
    insta::assert_snapshot!(stderr(&out));
}

#[test]
fn empty_directory_is_a_usage_error() {
    let dir = scratch("empty-dir");
    let out = oaasc(&["check", dir.to_str().unwrap()]);
    assert_eq!(code(&out), 2);
    settings().bind(|| insta::assert_snapshot!(stderr(&out)));
}

#[test]
fn non_utf8_file_is_a_usage_error() {
    let dir = scratch("non-utf8");
    let file = dir.join("bad.oaas");
    std::fs::write(&file, b"package p\n\xff\xfe\n").unwrap();
    let out = oaasc(&["check", file.to_str().unwrap()]);
    assert_eq!(code(&out), 2);
    settings().bind(|| insta::assert_snapshot!(stderr(&out)));
}

#[test]
fn bad_flags_are_usage_errors() {
    let unknown = oaasc(&["check", "--frobnicate", "examples"]);
    assert_eq!(code(&unknown), 2);
    assert!(stderr(&unknown).contains("--frobnicate"));
    let bad_format = oaasc(&["check", "--format", "xml", "examples"]);
    assert_eq!(code(&bad_format), 2);
    assert!(stderr(&bad_format).contains("xml"));
    let no_command = oaasc(&[]);
    assert_eq!(code(&no_command), 2);
}

#[test]
fn help_works() {
    let top = oaasc(&["--help"]);
    assert_eq!(code(&top), 0);
    assert!(stdout(&top).contains("check"), "{}", stdout(&top));
    let check = oaasc(&["check", "--help"]);
    assert_eq!(code(&check), 0);
    for words in ["--format", "--deny-warnings", "Exit status"] {
        assert!(
            stdout(&check).contains(words),
            "{words}: {}",
            stdout(&check)
        );
    }
    let version = oaasc(&["--version"]);
    assert_eq!(code(&version), 0);
    assert!(stdout(&version).starts_with("oaasc "));
}

/// `deploy --emit knative` prints one Knative Service per `@image` and contacts nothing (no
/// runtime listens in this test); the artifact's version in the header is masked.
#[test]
fn deploy_emits_knative_services_for_images() {
    let out = oaasc(&[
        "deploy",
        "examples/video",
        "--emit",
        "knative",
        "--namespace",
        "media",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut settings = settings();
    settings.add_filter(r"sha256:[0-9a-f]{64}", "sha256:[version]");
    settings.bind(|| insta::assert_snapshot!("knative_video", stdout(&out)));
    // A package without images: a stream with no documents, said in a comment.
    let out = oaasc(&["deploy", "examples/record", "--emit", "knative"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("# (no function names an @image)"));
    assert!(!stdout(&out).contains("kind: Service"));
}

/// `oaasc graph ... | dot` with no `dot` installed (or `| head -1`): the reader is gone before
/// the graph is written. The command ends quietly with 0 instead of panicking.
#[test]
fn a_closed_stdout_ends_the_command_without_a_panic() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_oaasc"))
        .args(["graph", "examples/video", "Video.detect_faces"])
        .current_dir(workspace_root())
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "stderr: {}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

#[test]
fn store_connections_outside_two_to_sixteen_are_a_usage_error() {
    for n in ["1", "17", "many"] {
        let out = oaasc(&[
            "serve",
            "--store-connections",
            n,
            "--data",
            "/nonexistent/oaas",
        ]);
        assert_eq!(code(&out), 2, "{n}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("--store-connections"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn a_lease_outside_one_to_three_hundred_seconds_is_a_usage_error() {
    for n in ["0", "301", "ten"] {
        let out = oaasc(&["serve", "--lease-seconds", n, "--data", "/nonexistent/oaas"]);
        assert_eq!(code(&out), 2, "{n}: {}", stderr(&out));
        assert!(stderr(&out).contains("--lease-seconds"), "{}", stderr(&out));
    }
}
