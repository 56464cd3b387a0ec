//! Every command block (```sh) in README.md, docs/*.md and examples/*/README.md runs as
//! written, on a fresh copy of the repository's tracked files, page by page, with the
//! `oaasc` this test builds on the PATH.
//!
//! What a block needs of its surroundings is said in an HTML comment right above it, so the
//! page reads the same to people:
//! - `<!-- doc-run: with-server -->`: the block runs against `oaasc serve` started in the page's
//!   folder (data `.oaas`, port 6000), as the text above it says one is running;
//! - `<!-- doc-run: skip REASON -->`: not run here (a tool this machine does not have, or the
//!   test suite itself); the reason is required.
//!
//! `cargo run [--release] -p oaasc -- ARGS` runs this `oaasc`; `cargo test` is this suite, so
//! it is not run again; a `cargo` command with `--manifest-path` (a crate of its own, such as
//! the container of a package made by `oaasc new --lang rust`) runs the real cargo, with the
//! target folder that `cli/tests/project.rs` builds the same crate in, so it is built once;
//! any other `cargo` command fails the page.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One fenced shell block and what its comment asks.
struct Block {
    line: usize,
    text: String,
    with_server: bool,
}

/// The shell blocks of a page, without the skipped ones; a skip without a reason is an error.
fn blocks(page: &str) -> Result<Vec<Block>, String> {
    let lines: Vec<&str> = page.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let fence = lines[i].trim();
        if fence != "```sh" && fence != "```bash" {
            i += 1;
            continue;
        }
        let note = lines[..i]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim())
            .unwrap_or("");
        let start = i + 1;
        let end = (start..lines.len())
            .find(|&j| lines[j].trim() == "```")
            .ok_or(format!("line {}: unclosed block", i + 1))?;
        i = end + 1;
        if let Some(reason) = note
            .strip_prefix("<!-- doc-run: skip")
            .and_then(|r| r.strip_suffix("-->"))
        {
            if reason.trim().is_empty() {
                return Err(format!("line {}: a skipped block must say why", start));
            }
            continue;
        }
        out.push(Block {
            line: start,
            text: lines[start..end].join("\n"),
            with_server: note == "<!-- doc-run: with-server -->",
        });
    }
    Ok(out)
}

/// A fresh copy of the tracked files, as a clone would have them.
fn fresh_copy(to: &Path) {
    let listed = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(listed.status.success(), "git ls-files failed");
    for name in listed.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        let (from, dest) = (root().join(&name), to.join(&name));
        if from.is_file() {
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(&from, &dest).unwrap();
        }
    }
}

/// A folder with `oaasc` and the `cargo` stand-in described above.
fn tools(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_oaasc"), bin.join("oaasc")).unwrap();
    let real = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string());
    let shared = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rust-containers");
    let cargo = r#"#!/bin/sh
case " $* " in
  *" --manifest-path "*) CARGO_TARGET_DIR="{shared}" exec "{real}" "$@";;
esac
case "$1" in
  run)
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do
      case "$1" in -p) [ "$2" = oaasc ] || { echo "doc-run: only oaasc runs here" >&2; exit 1; }; shift;; esac
      shift
    done
    shift
    exec oaasc "$@";;
  test) echo "doc-run: cargo test is the suite running this page" >&2; exit 0;;
  *) echo "doc-run: cargo $1 is not run by the docs runner" >&2; exit 1;;
esac
"#
    .replace("{shared}", &shared.to_string_lossy())
    .replace("{real}", &real);
    std::fs::write(bin.join("cargo"), cargo).unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(bin.join("cargo"))
        .status()
        .unwrap();
    bin
}

/// The script of a page: its blocks in order, each stopping the page at its first failure,
/// the server started before the first block that asks for it, and everything started in the
/// background stopped at the end.
fn script(blocks: &[Block]) -> String {
    let mut s = String::from(PRELUDE);
    let mut serving = false;
    let mut servers = 0;
    for b in blocks {
        if b.with_server && !serving {
            s.push_str("oaasc serve >serve.log 2>&1 &\ndoc_run_wait 6000 serve.log\n");
            serving = true;
        }
        s.push_str(&format!("echo '--- block at line {}' >&2\n", b.line));
        for line in joined_lines(&b.text) {
            match serve_port(&line) {
                Some(port) => {
                    servers += 1;
                    serving = serving || port == 6000;
                    s.push_str(&background(&line, servers, port));
                }
                None => s.push_str(&line),
            }
            s.push('\n');
        }
    }
    s
}

/// Stops the page at the first failure, stops what it started in the background on exit, and
/// waits for a runtime to answer `/healthz` (printing its log if it never does).
const PRELUDE: &str = r#"set -eo pipefail
trap 'echo "doc-run: failed: $BASH_COMMAND" >&2' ERR
trap 'rc=$?; set +e; trap - ERR; kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; exit $rc' EXIT
doc_run_wait() {
  for _ in $(seq 300); do curl -s "localhost:$1/healthz" >/dev/null && return 0; sleep 0.1; done
  echo "doc-run: no runtime answered on port $1 within 30 s; its log:" >&2; cat "$2" >&2; return 1
}
"#;

/// The block's lines with `\` continuations joined, as the shell reads them.
fn joined_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        match line.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The port of a line that starts the runtime (`oaasc serve` or `cargo run ... -- serve`),
/// from its `--listen`, else the default 6000.
fn serve_port(line: &str) -> Option<u16> {
    let words: Vec<&str> = line
        .split_whitespace()
        .take_while(|w| !w.starts_with('#'))
        .collect();
    let sub = match words.as_slice() {
        ["oaasc", rest @ ..] => rest.first(),
        ["cargo", "run", rest @ ..] => rest.iter().skip_while(|w| **w != "--").nth(1),
        _ => None,
    };
    if sub != Some(&"serve") {
        return None;
    }
    let listen = words.iter().skip_while(|w| **w != "--listen").nth(1);
    Some(
        listen
            .and_then(|a| a.rsplit(':').next()?.parse().ok())
            .unwrap_or(6000),
    )
}

/// A line that starts the runtime, run in the background (as a reader runs it in a second
/// terminal), then waited for until it answers.
fn background(line: &str, n: usize, port: u16) -> String {
    let command = line.split(" #").next().unwrap_or(line).trim_end();
    let log = format!("serve-{n}.log");
    if command.ends_with('&') || command.contains(" & ") {
        return format!("{command}\ndoc_run_wait {port} /dev/null");
    }
    format!("{command} >{log} 2>&1 &\ndoc_run_wait {port} {log}")
}

fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md")];
    for dir in ["docs", "examples"] {
        let mut found: Vec<PathBuf> = walk(&root().join(dir));
        found.retain(|p| {
            p.extension().is_some_and(|e| e == "md")
                && (dir == "docs" || p.file_name().is_some_and(|n| n == "README.md"))
        });
        found.retain(|p| !p.starts_with(root().join("docs/errors")));
        found.sort();
        pages.extend(found);
    }
    // DOC_RUN_PAGE=docs/runtime.md runs one page, while writing it.
    if let Ok(only) = std::env::var("DOC_RUN_PAGE") {
        pages.retain(|p| p.ends_with(&only));
    }
    pages
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Runs a page's blocks on a fresh copy of the repository; the tail of its output on failure.
fn run_page(blocks: &[Block]) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("repo");
    fresh_copy(&work);
    let bin = tools(dir.path());
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("timeout")
        // Long enough for the first build of a Rust container (README.md's `new --lang rust`).
        .args(["900", "bash", "-c", &script(blocks)])
        .current_dir(&work)
        .env("PATH", path)
        .env_remove("OAAS_TOKEN")
        .env_remove("OAAS_CLUSTER")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let tail = lines[lines.len().saturating_sub(25)..].join("\n");
    Err(format!("(exit {:?}):\n{tail}", out.status.code()))
}

#[test]
fn every_command_block_runs_as_written() {
    let mut failures = Vec::new();
    let mut ran = 0;
    for page in pages() {
        let name = page.strip_prefix(root()).unwrap().display().to_string();
        match blocks(&std::fs::read_to_string(&page).unwrap()) {
            Ok(b) if b.is_empty() => {}
            Ok(b) => {
                ran += b.len();
                if let Err(e) = run_page(&b) {
                    failures.push(format!("{name} {e}"));
                }
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    if std::env::var("DOC_RUN_PAGE").is_err() {
        assert!(ran > 20, "only {ran} blocks were found");
    }
    assert!(
        failures.is_empty(),
        "{} page(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn a_line_that_starts_the_runtime_runs_in_the_background() {
    assert_eq!(serve_port("oaasc serve"), Some(6000));
    assert_eq!(
        serve_port("cargo run --release -p oaasc -- serve   # data in ./.oaas"),
        Some(6000)
    );
    assert_eq!(
        serve_port("oaasc serve --data st --listen 127.0.0.1:6124 &"),
        Some(6124)
    );
    assert_eq!(serve_port("oaasc deploy examples/record"), None);
    assert_eq!(serve_port("cargo run -p oaasc -- run x serve"), None);
    let lines = joined_lines("oaasc serve --data d \\\n  --listen 0.0.0.0:7000\necho");
    assert_eq!(serve_port(&lines[0]), Some(7000));
    assert_eq!(
        background("oaasc serve  # the runtime", 1, 6000),
        "oaasc serve >serve-1.log 2>&1 &\ndoc_run_wait 6000 serve-1.log"
    );
}

#[test]
fn skipped_blocks_say_why_and_others_are_found() {
    let page = "a\n<!-- doc-run: skip needs kubectl -->\n```sh\nkubectl apply\n```\n<!-- doc-run: with-server -->\n```sh\noaasc deploy\n```\n```bash\necho hi\n```\n";
    let found = blocks(page).unwrap();
    assert_eq!(found.len(), 2);
    assert!(found[0].with_server && !found[1].with_server);
    assert_eq!(found[1].text, "echo hi");
    assert!(blocks("<!-- doc-run: skip -->\n```sh\nx\n```\n").is_err());
}
