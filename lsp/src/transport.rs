//! The protocol's framing over byte streams, with limits: `Content-Length` frames are read
//! into [`Message`]s for the main loop, and its messages are written back.
//!
//! `lsp-server`'s own stdio reader allocates whatever a `Content-Length` header claims and
//! ends the connection on the first frame it cannot read. Here a frame the reader refuses
//! is answered with a parse error and skipped, and nothing it claims is allocated:
//!
//! - a header line is at most [`MAX_HEADER_LINE`] bytes; a longer one refuses its frame;
//! - a body is at most [`MAX_BODY`] bytes; a larger one is refused, then skipped as its bytes
//!   arrive, without being kept;
//! - a frame without a readable `Content-Length` is refused; what follows it is skipped line
//!   by line up to the next `Content-Length` header;
//! - a body that is not JSON is answered with `-32700`, JSON that is not a message with
//!   `-32600` (with its `id` when it has one).

use crossbeam_channel::{bounded, Sender};
use lsp_server::{Connection, ErrorCode, Message};
use serde::Deserialize;
use serde_json::{json, Value};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// The longest header line read, its line end included; a longer one refuses its frame.
pub const MAX_HEADER_LINE: usize = 8 * 1024;
/// The largest body read; a larger one is refused and skipped without being kept.
pub const MAX_BODY: u64 = 64 * 1024 * 1024;

/// One frame of the input.
#[derive(Debug, PartialEq)]
pub enum Frame {
    /// A body within the limits.
    Body(Vec<u8>),
    /// A refused frame, and why (its body, when its length is known, is skipped next).
    Bad(String),
}

/// Reads `Content-Length` frames from a byte stream within the limits.
pub struct FrameReader<R> {
    input: BufReader<R>,
    /// Bytes of a refused body still to skip.
    skip: u64,
}

/// One header line.
enum Line {
    /// The input ended; `partial` if it ended inside a line.
    End { partial: bool },
    /// A line without its line end (lossily decoded).
    Text(String),
    /// A line longer than [`MAX_HEADER_LINE`], read to its end and dropped.
    TooLong,
}

/// What the header lines of one frame said.
#[derive(Default)]
struct Head {
    lines: usize,
    length: Option<u64>,
    problem: Option<String>,
}

impl Head {
    fn add(&mut self, line: &str) {
        self.lines += 1;
        // After a frame without a length, its body runs into the next header line: the
        // `Content-Length` at its end is where the next frame starts.
        let lower = line.to_ascii_lowercase();
        let Some(at) = lower.rfind("content-length") else {
            return;
        };
        let Some((_, value)) = line[at..].split_once(':') else {
            return;
        };
        match value.trim().parse::<u64>() {
            Ok(n) => self.length = Some(n),
            Err(_) => {
                self.problem = Some(format!(
                    "`Content-Length: {}` is not a length",
                    value.trim()
                ))
            }
        }
    }
}

impl<R: Read> FrameReader<R> {
    /// Reads frames from `input`.
    pub fn new(input: R) -> Self {
        FrameReader {
            input: BufReader::new(input),
            skip: 0,
        }
    }

    /// The next frame; `None` when the input ends between frames, an error when it ends
    /// inside one or cannot be read.
    pub fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        self.skip_refused()?;
        let mut head = Head::default();
        loop {
            match self.line()? {
                Line::End { partial } if head.lines == 0 && !partial => return Ok(None),
                Line::End { .. } => return Err(ended("a frame's headers")),
                Line::TooLong => {
                    head.lines += 1;
                    head.problem = Some(format!(
                        "a header line is longer than {MAX_HEADER_LINE} bytes"
                    ));
                }
                // A stray empty line between frames.
                Line::Text(t) if t.is_empty() && head.lines == 0 => {}
                Line::Text(t) if t.is_empty() => break,
                Line::Text(t) => head.add(&t),
            }
        }
        self.body(head).map(Some)
    }

    /// Reads or refuses the body of a frame whose headers ended.
    fn body(&mut self, head: Head) -> io::Result<Frame> {
        let Some(length) = head.length else {
            let why = head
                .problem
                .unwrap_or_else(|| "a frame without Content-Length".into());
            return Ok(Frame::Bad(why));
        };
        if let Some(why) = head.problem {
            self.skip = length;
            return Ok(Frame::Bad(why));
        }
        if length > MAX_BODY {
            self.skip = length;
            return Ok(Frame::Bad(format!(
                "a body of {length} bytes is over the limit of {MAX_BODY} bytes"
            )));
        }
        let mut body = Vec::new();
        (&mut self.input).take(length).read_to_end(&mut body)?;
        if (body.len() as u64) < length {
            return Err(ended("a frame's body"));
        }
        Ok(Frame::Body(body))
    }

    /// Skips the body of the last refused frame, as its bytes arrive.
    fn skip_refused(&mut self) -> io::Result<()> {
        let want = std::mem::take(&mut self.skip);
        if want > 0 {
            let skipped = io::copy(&mut (&mut self.input).take(want), &mut io::sink())?;
            if skipped < want {
                return Err(ended("the body of a refused frame"));
            }
        }
        Ok(())
    }

    /// Reads one header line, keeping at most [`MAX_HEADER_LINE`] bytes of it.
    fn line(&mut self) -> io::Result<Line> {
        let mut kept = Vec::new();
        let mut too_long = false;
        loop {
            let chunk = match self.input.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                let partial = too_long || !kept.is_empty();
                return Ok(Line::End { partial });
            }
            let newline = chunk.iter().position(|&b| b == b'\n');
            let take = newline.map_or(chunk.len(), |i| i + 1);
            let room = MAX_HEADER_LINE - kept.len();
            too_long |= take > room;
            kept.extend_from_slice(&chunk[..take.min(room)]);
            self.input.consume(take);
            if newline.is_some() {
                break;
            }
        }
        if too_long {
            return Ok(Line::TooLong);
        }
        while kept.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            kept.pop();
        }
        Ok(Line::Text(String::from_utf8_lossy(&kept).into_owned()))
    }
}

/// The error of an input that ended too early.
fn ended(inside: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("the input ended inside {inside}"),
    )
}

/// An error answered to the client: its id (`null` when unknown), code and message.
#[derive(Debug)]
struct Refusal {
    id: Value,
    code: ErrorCode,
    message: String,
}

/// Decodes a body into a message.
fn decode(body: &[u8]) -> Result<Message, Refusal> {
    let value: Value = serde_json::from_slice(body).map_err(|e| Refusal {
        id: Value::Null,
        code: ErrorCode::ParseError,
        message: format!("the body is not JSON: {e}"),
    })?;
    Message::deserialize(&value).map_err(|e| Refusal {
        id: match value.get("id") {
            Some(id @ (Value::Number(_) | Value::String(_))) => id.clone(),
            _ => Value::Null,
        },
        code: ErrorCode::InvalidRequest,
        message: format!("not a request, notification or response: {e}"),
    })
}

/// The output, shared by the writer thread and the reader's refusals.
type Output<W> = Arc<Mutex<W>>;

/// Writes one frame, whole.
fn write_frame<W: Write>(out: &Output<W>, msg: &Message) -> io::Result<()> {
    let mut out = out.lock().unwrap_or_else(PoisonError::into_inner);
    msg.write(&mut *out)
}

/// Answers a refused frame or message.
fn refuse<W: Write>(out: &Output<W>, r: &Refusal) {
    eprintln!("oaas-lsp: refused a message: {}", r.message);
    let body = json!({
        "jsonrpc": "2.0",
        "id": r.id,
        "error": { "code": r.code as i32, "message": r.message },
    })
    .to_string();
    let mut out = out.lock().unwrap_or_else(PoisonError::into_inner);
    let _ = write!(out, "Content-Length: {}\r\n\r\n{body}", body.len()).and_then(|_| out.flush());
}

/// Reads frames until the input ends or `exit` comes, passing messages to the server.
fn read_loop<R: Read, W: Write>(input: R, to_server: Sender<Message>, out: Output<W>) {
    let mut frames = FrameReader::new(input);
    loop {
        let frame = match frames.next_frame() {
            Ok(Some(frame)) => frame,
            Ok(None) => return,
            Err(e) => {
                eprintln!("oaas-lsp: {e}");
                return;
            }
        };
        let decoded = match frame {
            Frame::Body(body) => decode(&body),
            Frame::Bad(why) => Err(Refusal {
                id: Value::Null,
                code: ErrorCode::ParseError,
                message: why,
            }),
        };
        match decoded {
            Ok(msg) => {
                let exit = matches!(&msg, Message::Notification(n) if n.method == "exit");
                if to_server.send(msg).is_err() || exit {
                    return;
                }
            }
            Err(r) => refuse(&out, &r),
        }
    }
}

/// The threads of a connection over byte streams.
pub struct IoThreads {
    writer: JoinHandle<()>,
}

impl IoThreads {
    /// Waits until every message the server sent is written. The reader is not waited for:
    /// it may be blocked on input that never ends.
    pub fn finish(self) {
        let _ = self.writer.join();
    }
}

/// A connection that reads frames from `input` and writes the server's messages to `output`.
pub fn connect<R, W>(input: R, output: W) -> io::Result<(Connection, IoThreads)>
where
    R: Read + Send + 'static,
    W: Write + Send + 'static,
{
    let out: Output<W> = Arc::new(Mutex::new(output));
    let (to_server, receiver) = bounded::<Message>(0);
    let (sender, from_server) = bounded::<Message>(0);
    let reader_out = out.clone();
    std::thread::Builder::new()
        .name("oaas-lsp-reader".into())
        .spawn(move || read_loop(input, to_server, reader_out))?;
    let writer = std::thread::Builder::new()
        .name("oaas-lsp-writer".into())
        .spawn(move || {
            for msg in from_server {
                if let Err(e) = write_frame(&out, &msg) {
                    eprintln!("oaas-lsp: cannot write to the client: {e}");
                    return;
                }
            }
        })?;
    Ok((Connection { sender, receiver }, IoThreads { writer }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8]) -> Vec<Result<Frame, String>> {
        let mut r = FrameReader::new(input);
        let mut out = Vec::new();
        loop {
            match r.next_frame() {
                Ok(Some(f)) => out.push(Ok(f)),
                Ok(None) => return out,
                Err(e) => {
                    out.push(Err(e.to_string()));
                    return out;
                }
            }
        }
    }

    fn body(s: &str) -> Result<Frame, String> {
        Ok(Frame::Body(s.as_bytes().to_vec()))
    }

    fn is_bad(f: &Result<Frame, String>, why: &str) -> bool {
        matches!(f, Ok(Frame::Bad(w)) if w.contains(why))
    }

    #[test]
    fn reads_frames_and_ignores_other_headers() {
        let input = b"Content-Length: 2\r\nContent-Type: x\r\n\r\n{}content-length:3\n\n[1]";
        assert_eq!(frames(input), vec![body("{}"), body("[1]")]);
    }

    #[test]
    fn refuses_a_huge_body_and_skips_it() {
        let input = b"Content-Length: 70000000\r\n\r\nxx";
        let got = frames(input);
        assert!(is_bad(&got[0], "over the limit"), "{got:?}");
        assert!(
            matches!(&got[1], Err(e) if e.contains("ended inside")),
            "{got:?}"
        );
        let input = b"Content-Length: 18446744073709551615\r\n\r\n";
        assert!(is_bad(&frames(input)[0], "over the limit"));
    }

    #[test]
    fn resyncs_after_a_frame_without_a_length() {
        let input = b"Content-Length: ten\r\n\r\n{}Content-Length: 2\r\n\r\n[]";
        let got = frames(input);
        assert!(is_bad(&got[0], "not a length"), "{got:?}");
        assert_eq!(got[1..], [body("[]")]);
        let got = frames(b"X: y\r\n\r\n");
        assert!(is_bad(&got[0], "without Content-Length"), "{got:?}");
    }

    #[test]
    fn refuses_a_long_header_line_and_skips_its_body() {
        let mut input = format!("X: {}\r\nContent-Length: 2\r\n\r\n{{}}", "a".repeat(9000));
        input.push_str("Content-Length: 2\r\n\r\n[]");
        let got = frames(input.as_bytes());
        assert!(is_bad(&got[0], "longer than"), "{got:?}");
        assert_eq!(got[1..], [body("[]")]);
    }

    #[test]
    fn decodes_messages_and_refuses_the_rest() {
        assert!(decode(br#"{"jsonrpc":"2.0","method":"exit"}"#).is_ok());
        let r = decode(b"{{{{{").err();
        assert!(matches!(
            r,
            Some(Refusal {
                code: ErrorCode::ParseError,
                id: Value::Null,
                ..
            })
        ));
        let r = decode(br#"{"id":"a","method":5}"#).err();
        assert!(matches!(
            r,
            Some(Refusal {
                code: ErrorCode::InvalidRequest,
                id: Value::String(_),
                ..
            })
        ));
    }
}
