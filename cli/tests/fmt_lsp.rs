//! `oaasc fmt` on real files, and `oaasc lsp` over real standard input and output.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn oaasc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_oaasc"))
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("oaasc-fmt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const MESSY: &str = "package p\nclass A{\n  public   fn f(x:int)->int // keep me\n}\n";
const TIDY: &str = "package p\n\nclass A {\n  public fn f(x: int) -> int // keep me\n}\n";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn fmt_check_then_write() {
    let dir = temp_dir("write");
    let messy = write(&dir, "messy.oaas", MESSY);
    let tidy = write(&dir, "tidy.oaas", TIDY);

    let out = oaasc()
        .arg("fmt")
        .arg("--check")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains("messy.oaas") && !listed.contains("tidy.oaas"),
        "{listed}"
    );
    assert_eq!(
        std::fs::read_to_string(&messy).unwrap(),
        MESSY,
        "--check changed a file"
    );

    let out = oaasc().arg("fmt").arg(&dir).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&messy).unwrap(), TIDY);
    assert_eq!(std::fs::read_to_string(&tidy).unwrap(), TIDY);

    let out = oaasc()
        .arg("fmt")
        .arg("--check")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn fmt_leaves_files_with_syntax_errors_alone() {
    let dir = temp_dir("broken");
    let text = "package p\nclass A {\n  fn (\n}\n";
    let broken = write(&dir, "broken.oaas", text);
    let out = oaasc().arg("fmt").arg(&broken).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("E0001") && err.contains("not formatted"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&broken).unwrap(), text);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn fmt_stdin_to_stdout() {
    let mut child = oaasc()
        .args(["fmt", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(MESSY.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), TIDY);
}

fn frame(body: &str) -> Vec<u8> {
    format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

fn read_frame(r: &mut impl BufRead) -> serde_json::Value {
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(n) = line.strip_prefix("Content-Length: ") {
            len = n.parse().unwrap();
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    serde_json::from_slice(&body).unwrap()
}

#[test]
fn lsp_over_stdio() {
    let mut child = oaasc()
        .args(["lsp", "--stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdin
        .write_all(&frame(
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"#,
        ))
        .unwrap();
    let init = read_frame(&mut stdout);
    assert_eq!(init["id"], 1);
    assert_eq!(
        init["result"]["capabilities"]["documentFormattingProvider"],
        true
    );
    assert_eq!(init["result"]["serverInfo"]["name"], "oaas-lsp");
    stdin
        .write_all(&frame(
            r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#,
        ))
        .unwrap();
    let open = serde_json::json!({
        "jsonrpc": "2.0", "method": "textDocument/didOpen",
        "params": { "textDocument": { "uri": "file:///tmp/x/a.oaas", "languageId": "oaas", "version": 1, "text": "package p\nclass A extends Nope {}\n" } },
    });
    stdin.write_all(&frame(&open.to_string())).unwrap();
    let diags = read_frame(&mut stdout);
    assert_eq!(diags["method"], "textDocument/publishDiagnostics");
    assert!(diags["params"]["diagnostics"]
        .as_array()
        .is_some_and(|d| !d.is_empty()));
    stdin
        .write_all(&frame(
            r#"{"jsonrpc":"2.0","id":2,"method":"shutdown","params":null}"#,
        ))
        .unwrap();
    let done = read_frame(&mut stdout);
    assert_eq!(done["id"], 2);
    stdin
        .write_all(&frame(r#"{"jsonrpc":"2.0","method":"exit","params":null}"#))
        .unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
