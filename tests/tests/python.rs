//! The Python tests (the SDK's and the video example's containers) run with the Rust ones, so
//! `cargo test --workspace` is every test of the repository. They need `python3` and what
//! examples/video/requirements.txt lists (`pip install -r examples/video/requirements.txt`).
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `python3 -m unittest discover ARGS` in the repository root and fails with its output.
fn unittest(args: &[&str]) {
    let out = Command::new("python3")
        .args(["-m", "unittest", "discover"])
        .args(args)
        .current_dir(root())
        .output()
        .expect("python3 is needed for the Python tests");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python3 -m unittest discover {} failed:\n{}{stderr}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout)
    );
    // unittest prints "Ran N tests"; zero found would pass silently otherwise.
    assert!(
        !stderr.contains("Ran 0 tests"),
        "no Python test was found by {args:?}"
    );
}

#[test]
fn sdk_python_tests_pass() {
    unittest(&["sdk/python/tests"]);
}

#[test]
fn video_example_container_tests_pass() {
    unittest(&["-s", "examples/video/functions"]);
}
