//! `oaasc lsp` against a misbehaving client, over real standard input and output: exit codes
//! after `shutdown`/`exit`/end of input, bodies that are not JSON, and frames whose headers
//! lie (a huge or non-numeric `Content-Length`, none at all, an overlong header line). Every
//! wait has a timeout, so a hung server fails the test instead of hanging it.

#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// How long any one wait may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The most resident memory the server may use while a client lies about a length.
const RSS_LIMIT_KB: u64 = 200 * 1024;

/// A running `oaasc lsp` with its messages read in a thread.
struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    messages: mpsc::Receiver<Value>,
    stderr: mpsc::Receiver<String>,
}

fn frame(body: &str) -> Vec<u8> {
    format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

fn request(id: i64, method: &str, params: Value) -> Vec<u8> {
    frame(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }).to_string())
}

fn notification(method: &str, params: Value) -> Vec<u8> {
    frame(&json!({ "jsonrpc": "2.0", "method": method, "params": params }).to_string())
}

fn hover(id: i64) -> Vec<u8> {
    let params = json!({
        "textDocument": { "uri": "file:///nowhere/a.oaas" },
        "position": { "line": 0, "character": 0 },
    });
    request(id, "textDocument/hover", params)
}

/// Reads frames from the server's output until it ends (or a frame is unreadable).
fn read_frames(out: impl Read, tx: mpsc::Sender<Value>) {
    let mut r = BufReader::new(out);
    loop {
        let mut len = None;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(n) = line.strip_prefix("Content-Length: ") {
                len = n.parse::<usize>().ok();
            }
        }
        let Some(len) = len else { return };
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let Ok(v) = serde_json::from_slice(&body) else {
            return;
        };
        if tx.send(v).is_err() {
            return;
        }
    }
}

impl Server {
    /// Starts `oaasc lsp` and initializes it.
    fn start() -> Server {
        let mut s = Server::spawn();
        s.send(&request(1, "initialize", json!({ "capabilities": {} })));
        assert_eq!(s.response()["id"], 1);
        s.send(&notification("initialized", json!({})));
        s
    }

    /// Starts `oaasc lsp`.
    fn spawn() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_oaasc"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, messages) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || read_frames(out, tx));
        let (etx, stderr) = mpsc::channel();
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            let _ = etx.send(s);
        });
        Server {
            stdin: child.stdin.take(),
            child,
            messages,
            stderr,
        }
    }

    /// Writes raw bytes to the server's input (a server that has gone away is not an error
    /// here: the assertions that follow say what was expected).
    fn send(&mut self, bytes: &[u8]) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = stdin.write_all(bytes).and_then(|_| stdin.flush());
        }
    }

    /// Closes the server's input.
    fn close(&mut self) {
        self.stdin = None;
    }

    /// The next response, skipping notifications and the server's own requests.
    fn response(&mut self) -> Value {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = match self.messages.recv_timeout(left) {
                Ok(m) => m,
                Err(e) => panic!("no response from the server: {e}"),
            };
            if msg.get("method").is_none() {
                return msg;
            }
        }
    }

    /// The next response must be a protocol error with this code and id.
    fn expect_error(&mut self, code: i64, id: Value) {
        let r = self.response();
        assert_eq!(r["error"]["code"], code, "{r}");
        assert_eq!(r["id"], id, "{r}");
    }

    /// The server still answers a request.
    fn expect_alive(&mut self, id: i64) {
        self.send(&hover(id));
        let r = self.response();
        assert_eq!(r["id"], id, "{r}");
        assert!(r.get("error").is_none(), "{r}");
    }

    /// Waits for the process to end; its exit code and what it wrote to standard error.
    fn wait(mut self) -> (Option<i32>, String) {
        self.close();
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the server did not exit within {TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stderr = self.stderr.recv_timeout(TIMEOUT).unwrap_or_default();
        (status.code(), stderr)
    }

    /// `shutdown` then `exit`: the server must answer and exit with 0.
    fn finish(mut self) {
        self.send(&request(999, "shutdown", Value::Null));
        assert_eq!(self.response()["id"], 999);
        self.send(&notification("exit", Value::Null));
        let (code, stderr) = self.wait();
        assert_eq!(code, Some(0), "{stderr}");
    }

    /// Watches the server's resident memory in a thread, killing it above the limit (so that
    /// the old server, which allocated what a header claimed, cannot take the machine down).
    fn watch_memory(&self) -> Arc<AtomicU64> {
        let peak = Arc::new(AtomicU64::new(0));
        let seen = peak.clone();
        let pid = self.child.id();
        std::thread::spawn(move || loop {
            let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
                return;
            };
            let kb = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .unwrap_or(0);
            seen.fetch_max(kb, Ordering::SeqCst);
            if kb > RSS_LIMIT_KB {
                let _ = std::process::Command::new("kill")
                    .args(["-9", &pid.to_string()])
                    .status();
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        });
        peak
    }
}

#[test]
fn shutdown_then_exit_exits_0() {
    Server::start().finish();
}

#[test]
fn exit_without_shutdown_exits_1() {
    let mut s = Server::start();
    s.send(&notification("exit", Value::Null));
    let (code, stderr) = s.wait();
    assert_eq!(code, Some(1), "{stderr}");
}

#[test]
fn end_of_input_after_shutdown_exits_0() {
    let mut s = Server::start();
    s.send(&request(2, "shutdown", Value::Null));
    assert_eq!(s.response()["id"], 2);
    let (code, stderr) = s.wait();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("disconnected"), "{stderr}");
}

#[test]
fn end_of_input_without_shutdown_exits_1() {
    let s = Server::start();
    let (code, stderr) = s.wait();
    assert_eq!(code, Some(1), "{stderr}");
}

#[test]
fn requests_before_initialize_are_refused() {
    let mut s = Server::spawn();
    s.send(&hover(1));
    s.expect_error(-32002, json!(1));
    s.send(&request(2, "initialize", json!({ "capabilities": {} })));
    assert_eq!(s.response()["id"], 2);
    s.expect_alive(3);
    s.finish();
}

#[test]
fn exit_before_initialize_exits_1() {
    let mut s = Server::spawn();
    s.send(&notification("exit", Value::Null));
    let (code, stderr) = s.wait();
    assert_eq!(code, Some(1), "{stderr}");
}

#[test]
fn requests_after_shutdown_are_refused_until_exit() {
    let mut s = Server::start();
    s.send(&request(2, "shutdown", Value::Null));
    assert_eq!(s.response()["id"], 2);
    s.send(&hover(3));
    s.expect_error(-32600, json!(3));
    s.send(&notification("exit", Value::Null));
    let (code, stderr) = s.wait();
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn a_body_that_is_not_json_is_answered_and_the_server_goes_on() {
    let mut s = Server::start();
    s.send(&frame("{{{{{"));
    s.expect_error(-32700, Value::Null);
    s.expect_alive(2);
    s.finish();
}

#[test]
fn json_that_is_not_a_message_is_an_invalid_request() {
    let mut s = Server::start();
    s.send(&frame(r#"{"jsonrpc":"2.0","id":7,"method":5}"#));
    s.expect_error(-32600, json!(7));
    s.send(&frame("[1, 2]"));
    s.expect_error(-32600, Value::Null);
    s.expect_alive(8);
    s.finish();
}

#[test]
fn a_body_that_is_not_utf8_is_a_parse_error() {
    let mut s = Server::start();
    s.send(b"Content-Length: 4\r\n\r\n\xff\xfe{}");
    s.expect_error(-32700, Value::Null);
    s.expect_alive(2);
    s.finish();
}

/// A length far beyond the limit: refused at once, the claimed bytes skipped as they come
/// without being kept, and the server ends with an error when the input ends inside them.
fn huge_length(claimed: &str) {
    let mut s = Server::start();
    let peak = s.watch_memory();
    s.send(format!("Content-Length: {claimed}\r\n\r\n").as_bytes());
    s.expect_error(-32700, Value::Null);
    let junk = vec![b'x'; 1 << 20];
    for _ in 0..64 {
        s.send(&junk);
    }
    let (code, stderr) = s.wait();
    let peak = peak.load(Ordering::SeqCst);
    assert!(peak > 0, "resident memory was never read");
    assert!(peak < RSS_LIMIT_KB, "resident memory reached {peak} kB");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("input ended"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_terabyte_content_length_is_refused_without_allocating() {
    huge_length("1000000000000");
}

#[test]
fn a_content_length_of_u64_max_is_refused_without_panicking() {
    huge_length("18446744073709551615");
}

#[test]
fn a_frame_without_content_length_is_answered_and_skipped() {
    let mut s = Server::start();
    s.send(b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{\"jsonrpc\":\"2.0\"}");
    s.expect_error(-32700, Value::Null);
    s.expect_alive(2);
    s.finish();
}

#[test]
fn a_non_numeric_content_length_is_answered_and_skipped() {
    let mut s = Server::start();
    s.send(b"Content-Length: twelve\r\n\r\n{\"jsonrpc\":\"2.0\"}");
    s.expect_error(-32700, Value::Null);
    s.expect_alive(2);
    s.finish();
}

#[test]
fn a_header_line_over_8_kib_is_refused_with_its_frame() {
    let mut s = Server::start();
    let body = String::from_utf8(hover(5)).unwrap();
    let long = format!("X-Padding: {}\r\n{body}", "a".repeat(1 << 20));
    s.send(long.as_bytes());
    s.expect_error(-32700, Value::Null);
    s.expect_alive(6);
    s.finish();
}

#[test]
fn garbage_between_frames_is_skipped() {
    let mut s = Server::start();
    s.send(b"hello\r\nnot a header\r\n\r\n");
    s.expect_error(-32700, Value::Null);
    s.expect_alive(2);
    s.finish();
}
