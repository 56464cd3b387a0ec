//! Packages found through `oaas.toml` manifests (`check`, `fmt`), this repository's root
//! included, and `oaasc new` then `oaasc run` in a temporary folder. The Python run needs the
//! Python SDK installed (`pip install ./sdk/python`, as .ci/run does); the Rust one builds its
//! container with cargo in a target folder shared with `docs_run.rs` (built once).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn oaasc(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oaasc"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Runs oaasc in `dir`, which must succeed (else its standard error is shown).
fn oaasc_ok(dir: &Path, args: &[&str]) -> Output {
    let out = oaasc(dir, args);
    assert!(
        out.status.success(),
        "oaasc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("oaasc-project-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, path: &str, text: &str) {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

const APP: &str = "package app\n\nrecord A { x: int }\n";
const MESSY_DUPLICATE: &str = "package app\nrecord A{x:int}\n";

/// A workspace with one member and a fixture folder (no manifest) that declares the same
/// package, unformatted.
fn workspace(name: &str) -> PathBuf {
    let dir = temp_dir(name);
    write(&dir, "oaas.toml", "[workspace]\nmembers = [\"app\"]\n");
    write(&dir, "app/oaas.toml", "[package]\nname = \"app\"\n");
    write(&dir, "app/a.oaas", APP);
    write(&dir, "fixtures/dup.oaas", MESSY_DUPLICATE);
    dir
}

#[test]
fn a_workspace_checks_its_members_and_leaves_a_folder_without_a_manifest_out() {
    let dir = workspace("members");
    let out = oaasc(&dir, &["check", "."]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("checked 1 file: no problems"), "{stderr}");
    let out = oaasc(&dir, &["fmt", "--check", "."]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = oaasc(&dir, &["fmt", "."]);
    assert!(out.status.success());
    let fixture = std::fs::read_to_string(dir.join("fixtures/dup.oaas")).unwrap();
    assert_eq!(fixture, MESSY_DUPLICATE, "the fixture was rewritten");
}

#[test]
fn a_folder_named_explicitly_is_every_file_below_it() {
    let dir = workspace("explicit");
    let out = oaasc(&dir, &["check", "fixtures"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Both named: the same package declared in two places is a real error now.
    let out = oaasc(&dir, &["check", "app", "fixtures"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("declared twice"), "{stderr}");
    let out = oaasc(&dir, &["fmt", "--check", "fixtures"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_broken_manifest_is_a_coded_diagnostic() {
    let dir = workspace("broken");
    write(
        &dir,
        "oaas.toml",
        "[workspace]\nmembers = [\"app\", \"gone\"]\n",
    );
    let out = oaasc(&dir, &["check", "."]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("[E0600]"), "{stderr}");
    assert!(
        stderr.contains("the member `gone` has no `oaas.toml`"),
        "{stderr}"
    );
}

#[test]
fn new_then_check_test_and_run() {
    let dir = temp_dir("new");
    oaasc_ok(&dir, &["new", "hello"]);
    let pkg = dir.join("hello");
    oaasc_ok(&pkg, &["check", "--deny-warnings", "."]);
    let test = Command::new("python3")
        .args(["-m", "unittest", "discover", "functions"])
        .current_dir(&pkg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&test.stderr);
    assert!(
        test.status.success() && stderr.contains("Ran 2 tests"),
        "{stderr}"
    );
    let out = oaasc(&pkg, &["run", ".", "Counter.add_twice", "--arg", "by=2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "4", "{stderr}");
    // A second package of that name is refused.
    assert_eq!(oaasc(&dir, &["new", "hello"]).status.code(), Some(2));
    assert_eq!(oaasc(&dir, &["new", "9lives"]).status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A package with a Rust container: it checks, its container's test passes over HTTP, and
/// `oaasc run` starts the container (`cargo run`) and runs the macro.
#[test]
fn new_rust_then_check_test_and_run() {
    let dir = temp_dir("new-rust");
    oaasc_ok(&dir, &["new", "counter", "--lang", "rust"]);
    let pkg = dir.join("counter");
    oaasc_ok(&pkg, &["check", "--deny-warnings", "."]);
    let shared = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rust-containers");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let test = Command::new(&cargo)
        .args(["test", "--manifest-path", "functions/Cargo.toml"])
        .env("CARGO_TARGET_DIR", &shared)
        .current_dir(&pkg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&test.stdout);
    assert!(
        test.status.success() && stdout.contains("test result: ok. 2 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&test.stderr)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_oaasc"))
        .args(["run", ".", "Counter.add_twice", "--arg", "by=2"])
        .env("CARGO_TARGET_DIR", &shared)
        .current_dir(&pkg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "4", "{stderr}");
    // The runtime killed `cargo run`; the container it started exits with it (the SDK
    // watches its parent), so none is left running.
    let binary = shared.join("debug/counter-functions");
    let gone = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        running(&binary).is_empty()
    });
    assert!(gone, "containers left running: {:?}", running(&binary));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The processes running `binary`, by their /proc entries.
fn running(binary: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir("/proc").unwrap();
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| std::fs::read_link(p.join("exe")).is_ok_and(|exe| exe == binary))
        .collect()
}

/// At this repository's root, `check .` and `fmt --check .` read the workspace of its
/// `oaas.toml`: its members' files (the examples and the standard library), no test fixture.
#[test]
fn the_repository_root_checks_its_workspace_members_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = oaasc(&root, &["check", "--format", "json", "."]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("\"severity\":\"error\""), "{stdout}");
    let out = oaasc(&root, &["check", "."]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let members = oaas_project::find(std::slice::from_ref(&root), usize::MAX).unwrap();
    assert!(members
        .files
        .iter()
        .all(|f| !f.starts_with(root.join("tests"))));
    let expected = format!("checked {} files: ", members.files.len());
    assert!(stderr.contains(&expected), "{expected} in {stderr}");
    let listed = Command::new("git")
        .args(["ls-files", "*.oaas"])
        .current_dir(&root)
        .output()
        .unwrap();
    let all = String::from_utf8_lossy(&listed.stdout).lines().count();
    assert!(
        all > members.files.len() + 50,
        "{all} tracked, {} checked",
        members.files.len()
    );
    let out = oaasc(&root, &["fmt", "--check", "."]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// With `--format json`, a broken manifest is a JSON diagnostic on standard output too.
#[test]
fn a_broken_manifest_is_json_with_format_json() {
    let dir = workspace("broken-json");
    write(
        &dir,
        "oaas.toml",
        "[workspace]\nmembers = [\"app\", \"gone\"]\n",
    );
    let out = oaasc(&dir, &["check", "--format", "json", "."]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let first: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(first["code"], "E0600", "{stdout}");
    assert_eq!(first["file"], "oaas.toml", "{stdout}");
}
