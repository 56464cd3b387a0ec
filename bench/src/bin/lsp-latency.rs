//! `lsp-latency`: how long the language server takes from a change notification to the
//! published diagnostics, on one generated package file of about 5,000 lines; beside it, in
//! the same run, the time of a full `Workspace::check()` of the same text (the baseline: what
//! the server did before it kept parses), of `Workspace::check_cached()` after the same edit
//! (the floor: the server parses only the edited class), and of hover and completion
//! requests on that file.
//!
//! ```text
//! cargo run --release -p oaas-bench --bin lsp-latency -- [--lines N] [--iters N]
//! ```
//! The server runs in a thread over `Connection::memory()`, as the tests drive it; each
//! change is one incremental edit that adds or removes an error, so that every change
//! publishes new diagnostics; changes are 30 ms apart, as keystrokes are, and the baseline
//! and floor are measured between them, so that all see the same load.

// The same allocator as the `oaasc` binary, which runs the checker and the language server.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use lsp_server::{Connection, Message, Notification, Request, RequestId};
use oaas_bench::generate;
use oaas_compiler::syntax::ParseCache;
use oaas_compiler::Workspace;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The pause between two changes.
const PAUSE_MS: u64 = 30;

struct Options {
    lines: usize,
    iters: usize,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        lines: 5_000,
        iters: 30,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--lines" => o.lines = value()?.parse().map_err(|e| format!("--lines: {e}"))?,
            "--iters" => o.iters = value()?.parse().map_err(|e| format!("--iters: {e}"))?,
            "--help" | "-h" => {
                println!("lsp-latency [--lines N] [--iters N]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}` (see --help)")),
        }
    }
    o.iters = o.iters.max(3);
    Ok(o)
}

struct Stats {
    median: Duration,
    p90: Duration,
    min: Duration,
    max: Duration,
}

fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    Stats {
        median: at(0.5),
        p90: at(0.9),
        min: v[0],
        max: v[v.len() - 1],
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

struct Client {
    conn: Connection,
    next: i32,
}

impl Client {
    fn send(&self, m: Message) -> Result<(), String> {
        self.conn.sender.send(m).map_err(|e| e.to_string())
    }

    fn notify(&self, method: &str, params: Value) -> Result<(), String> {
        self.send(Notification::new(method.into(), params).into())
    }

    /// One incremental `didChange`: `text` replaces `line`, columns `from..to`.
    fn change(
        &self,
        uri: &str,
        version: usize,
        (line, from, to): (usize, usize, usize),
        text: &str,
    ) -> Result<(), String> {
        self.notify(
            "textDocument/didChange",
            json!({
                "textDocument": { "uri": uri, "version": version },
                "contentChanges": [{
                    "range": { "start": { "line": line, "character": from }, "end": { "line": line, "character": to } },
                    "text": text,
                }],
            }),
        )
    }

    fn request(&mut self, method: &str, params: Value) -> Result<Value, String> {
        self.next += 1;
        let id = RequestId::from(self.next);
        self.send(Request::new(id.clone(), method.into(), params).into())?;
        loop {
            match self.recv()? {
                Message::Response(r) if r.id == id => {
                    return r.response_result.map_err(|e| e.message);
                }
                _ => {}
            }
        }
    }

    fn recv(&self) -> Result<Message, String> {
        self.conn
            .receiver
            .recv_timeout(Duration::from_secs(120))
            .map_err(|e| format!("no answer from the server: {e}"))
    }

    /// Waits for diagnostics of `uri`; returns how many there are.
    fn diagnostics(&self, uri: &str) -> Result<usize, String> {
        loop {
            if let Message::Notification(n) = self.recv()? {
                if n.method == "textDocument/publishDiagnostics" && n.params["uri"] == uri {
                    return Ok(n.params["diagnostics"].as_array().map_or(0, Vec::len));
                }
            }
        }
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// The times of one kind of step, one per run.
type Times = Vec<Duration>;

/// Where the benchmark edits: the default of the first state field (`= 0` <-> `= x`, an
/// error), as an offset and as the line and column the protocol wants.
struct Site {
    at: usize,
    line: usize,
    col: usize,
}

/// The line and column (in bytes, the text being ASCII) of an offset.
fn position(text: &str, at: usize) -> (usize, usize) {
    let line = text[..at].matches('\n').count();
    (line, at - text[..at].rfind('\n').map_or(0, |i| i + 1))
}

fn run() -> Result<(), String> {
    let o = options()?;
    let generated = generate(o.lines, usize::MAX);
    let file = generated.files.first().ok_or("nothing generated")?;
    let text = file.text.clone();
    let lines = text.lines().count();

    let mut workspace = Workspace::new();
    let id = workspace.add_file(file.path.clone(), text.clone());
    let errors = workspace.check().error_count();

    let (server, conn) = Connection::memory();
    let thread = std::thread::spawn(move || oaas_lsp::run(server));
    let mut c = Client { conn, next: 0 };
    c.request("initialize", json!({ "capabilities": {} }))?;
    c.notify("initialized", json!({}))?;
    let uri = "file:///bench/part_000.oaas";
    c.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": "oaas", "version": 1, "text": text } }),
    )?;
    let first = c.diagnostics(uri)?;

    let at = text.find("count0: int = 0").ok_or("no edit site")? + "count0: int = ".len();
    let (line, col) = position(&text, at);
    let site = Site { at, line, col };
    let (full, floor, latency) = edit_rounds(&o, &c, uri, &workspace, id, &site)?;
    let broken = syntax_rounds(&o, &c, uri, &site)?;
    let (hover, complete) = request_rounds(&o, &mut c, uri, &text)?;
    c.request("shutdown", Value::Null)?;
    c.notify("exit", Value::Null)?;
    let _ = thread.join();

    println!(
        "lsp-latency: one file of {lines} lines, {} classes ({errors} errors), {} runs each",
        generated.classes, o.iters
    );
    println!("  first diagnostics after didOpen: {first} diagnostics");
    let (b, l) = (stats(full), stats(latency));
    print_spread("Workspace::check(), a full check (baseline):  ", &b);
    print_spread(
        "check_cached() after the edit (floor):        ",
        &stats(floor),
    );
    print_spread("didChange -> publishDiagnostics (the server): ", &l);
    print_spread(
        "the same, a syntax error typed and mended:    ",
        &stats(broken),
    );
    let (h, k) = (stats(hover), stats(complete));
    println!(
        "  hover on a call:                              median {}, p90 {}",
        ms(h.median),
        ms(h.p90)
    );
    println!(
        "  completion after `self.pa`:                   median {}, p90 {}",
        ms(k.median),
        ms(k.p90)
    );
    println!(
        "  server / full check at the median: {:.2}",
        l.median.as_secs_f64() / b.median.as_secs_f64()
    );
    let goal = Duration::from_millis(50);
    println!(
        "  goal: didChange -> diagnostics under {} at the median: {}",
        ms(goal),
        if l.median < goal { "met" } else { "NOT met" }
    );
    Ok(())
}

/// One line of figures: median, p90, min and max.
fn print_spread(label: &str, s: &Stats) {
    println!(
        "  {label}median {}, p90 {}, min {}, max {}",
        ms(s.median),
        ms(s.p90),
        ms(s.min),
        ms(s.max)
    );
}

/// The baseline (a full check of the same text), the floor (a cached check after the same
/// edit) and the server's latency from a change to its diagnostics, taken in turns so that
/// all see the same load; each edit adds or removes an error.
fn edit_rounds(
    o: &Options,
    c: &Client,
    uri: &str,
    workspace: &Workspace,
    id: oaas_compiler::FileId,
    site: &Site,
) -> Result<(Times, Times, Times), String> {
    let text = workspace.sources.get(id).text.clone();
    let mut cached = workspace.clone();
    let mut parses = ParseCache::default();
    cached.check_cached(&mut parses);
    let (mut full, mut floor, mut latency) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..o.iters {
        let t = Instant::now();
        std::hint::black_box(workspace.check());
        full.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(PAUSE_MS));

        let new = if i % 2 == 0 { "x" } else { "0" };
        let mut edited = text.clone();
        edited.replace_range(site.at..site.at + 1, new);
        cached.sources.set_text(id, edited);
        let t = Instant::now();
        std::hint::black_box(cached.check_cached(&mut parses));
        floor.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(PAUSE_MS));

        let t = Instant::now();
        c.change(uri, i + 2, (site.line, site.col, site.col + 1), new)?;
        c.diagnostics(uri)?;
        latency.push(t.elapsed());
        // One change at a time, as keystrokes come (a burst is checked once anyway).
        std::thread::sleep(Duration::from_millis(PAUSE_MS));
    }
    Ok((full, floor, latency))
}

/// Typing that breaks the syntax and mends it: the default deleted (`count0: int =` does
/// not parse) and typed again. The edited class is parsed with its syntax error.
fn syntax_rounds(o: &Options, c: &Client, uri: &str, site: &Site) -> Result<Times, String> {
    let mut broken = Vec::new();
    for i in 0..o.iters {
        let (end, new) = if i % 2 == 0 {
            (site.col + 1, "")
        } else {
            (site.col, "0")
        };
        let t = Instant::now();
        c.change(uri, o.iters + i + 2, (site.line, site.col, end), new)?;
        c.diagnostics(uri)?;
        broken.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(PAUSE_MS));
    }
    Ok(broken)
}

/// Requests on the same file: hover on a call's name, completion inside it.
fn request_rounds(
    o: &Options,
    c: &mut Client,
    uri: &str,
    text: &str,
) -> Result<(Times, Times), String> {
    let call = text.find("self.parts0(").ok_or("no call")? + "self.".len() + 2;
    let (cl, cc) = position(text, call);
    let position =
        json!({ "textDocument": { "uri": uri }, "position": { "line": cl, "character": cc } });
    let (mut hover, mut complete) = (Vec::new(), Vec::new());
    for _ in 0..o.iters {
        let t = Instant::now();
        c.request("textDocument/hover", position.clone())?;
        hover.push(t.elapsed());
        let t = Instant::now();
        c.request("textDocument/completion", position.clone())?;
        complete.push(t.elapsed());
    }
    Ok((hover, complete))
}
