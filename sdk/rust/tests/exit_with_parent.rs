//! With `OAAS_EXIT_WITH_PARENT=1` (as the runtime starts `@local` containers), a container
//! exits when the process that started it is killed, even by SIGKILL: the record example is
//! started by a shell that is then killed.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The record example, which `cargo test` builds next to this test's binary.
fn record_example() -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    deps.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/record")
}

/// Whether a process runs (a zombie left for a parent that does not reap does not).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn started_by_a_killed_shell(exit_with_parent: &str) -> (u32, bool) {
    let example = record_example();
    assert!(example.is_file(), "{} not built", example.display());
    let mut shell = Command::new("sh")
        .arg("-c")
        .arg(format!("'{}' & echo $!; wait", example.display()))
        .env("PORT", "0")
        .env("OAAS_EXIT_WITH_PARENT", exit_with_parent)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(shell.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pid: u32 = line.trim().parse().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(pid), "the container did not start");
    shell.kill().unwrap();
    shell.wait().unwrap();
    let start = Instant::now();
    while alive(pid) && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    (pid, alive(pid))
}

#[test]
fn a_container_exits_when_its_parent_is_killed() {
    let (_, left) = started_by_a_killed_shell("1");
    assert!(!left, "the container outlived its parent");
    // Without the setting it keeps running (and is stopped here).
    let (pid, left) = started_by_a_killed_shell("0");
    assert!(left, "the container stopped without OAAS_EXIT_WITH_PARENT");
    Command::new("kill").arg(pid.to_string()).status().unwrap();
}
