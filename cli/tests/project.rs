//! Packages found through `oaas.toml` manifests (`check`, `fmt`), and `oaasc new` then
//! `oaasc run` in a temporary folder. The run needs the Python SDK installed
//! (`pip install ./sdk/python`, as .ci/run does).

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
    let out = oaasc(&dir, &["new", "hello"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pkg = dir.join("hello");
    let out = oaasc(&pkg, &["check", "--deny-warnings", "."]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
