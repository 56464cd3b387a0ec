//! `macro-bench`: what running a macro costs over making its calls by hand.
//!
//! ```text
//! cargo run --release -p oaas-bench --bin macro-bench -- [--quick] [--calls-c1 N] [--calls-c64 N]
//!     [--store postgres://USER@HOST:PORT/DB [--replicas N] [--store-connections N]]
//!     [--only macro|forward|direct|mut]
//! ```
//!
//! `--store-connections` is each replica's most connections to the database, as
//! `oaasc serve --store-connections` (default 16).
//!
//! `--only macro|forward|direct` runs one side (the others are left out), for profiling one
//! path's CPU (`valgrind --tool=callgrind`, as in bench/RESULTS.md).
//!
//! A three-step macro (three dependent calls, `f(f(f(x)))` on one object) through an
//! in-process runtime with its SQLite store, or on a PostgreSQL database (a fresh one) with
//! `--store`, through `--replicas` runtimes sharing it, macros spread over them (each
//! invocation recorded durably before its answer; the macro changes nothing, so its steps'
//! results are not committed on their own: docs/design-notes.md), beside the same three calls
//! made directly to the same Rust SDK
//! container one after another, with nothing stored; and the same three calls made by a bare
//! forwarder in between (`oaas_bench::forward`: one request in, the three calls out on the
//! runtime's own HTTP stacks, nothing stored or checked), the most any runtime that runs
//! the steps over HTTP can keep. Printed: throughput, p50 and p99 at
//! concurrency 1 and 64, and the differences. Goal (issue 19): at concurrency 64 the macro
//! keeps at least 0.6 of the direct throughput, said met or MISSED.
//!
//! Then, at concurrency 64, a macro whose steps change its object (`three_mut`: three `mut`
//! calls, each committed as a new version before the next, over 1,000 objects) against the
//! same three calls made directly: the durable path, which `three` no longer takes (a
//! synchronous macro that changes nothing and ends within 0.1 s writes nothing).
//! `--only mut` runs this part alone.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use oaas_bench::runtime;
use oaas_sdk::{Ctx, FnError, Functions, Reply};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `public fn f(x: int) -> int`: x + 1.
async fn f(ctx: Ctx) -> Result<Reply, FnError> {
    let x: i64 = ctx.arg("x")?;
    Ok(Reply::value(x + 1))
}

/// `public mut fn g(x: int) -> int`: sets `n` to x, answers x + 1.
async fn g(ctx: Ctx) -> Result<Reply, FnError> {
    let x: i64 = ctx.arg("x")?;
    Ok(Reply::value(x + 1).set("n", x))
}

/// The task document of step `step` of operation `i`: `f(x)` on object `id`.
fn task(id: &str, i: usize, step: usize, x: i64) -> Value {
    task_of("f", id, i, step, x)
}

/// The task document of step `step` of operation `i`: `function(x)` on object `id`.
fn task_of(function: &str, id: &str, i: usize, step: usize, x: i64) -> Value {
    json!({
        "protocol": "oaas-task/1", "task_id": format!("direct-{i}.n{step}"), "invocation_id": format!("direct-{i}"),
        "package": "chain", "class": "chain.Chain", "function": function, "args": {"x": x},
        "self": {"id": id, "class": "chain.Chain", "version": 1, "state": {"n": 0}, "refs": {}, "files": {}, "upload": {}},
        "output": null, "outputs": null, "objects": {}, "deadline_ms": 0
    })
}

/// The `value` of a container's answer, as an integer.
fn value_of(body: &[u8]) -> Result<i64, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    v["value"]
        .as_i64()
        .ok_or_else(|| format!("bad answer: {v}"))
}

/// Starts the forwarder: `POST /{i}` makes the three calls of operation `i` to `container`
/// one after another, as the macro's runtime does, and answers the last one's body.
async fn start_forwarder(container: &str, id: &str) -> Result<String, String> {
    let url: http::Uri = format!("{container}/")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let (hop, id) = (oaas_bench::forward::Hop::new(), Arc::new(id.to_string()));
    let handler: oaas_bench::forward::Handler = Arc::new(move |path: String, _body| {
        let (hop, url, id) = (hop.clone(), url.clone(), id.clone());
        Box::pin(async move {
            let i: usize = path
                .trim_start_matches('/')
                .parse()
                .map_err(|_| format!("no operation in `{path}`"))?;
            let (mut x, mut answer) = (i as i64, bytes::Bytes::new());
            for step in 0..3 {
                let doc = serde_json::to_vec(&task(&id, i, step, x)).map_err(|e| e.to_string())?;
                answer = hop
                    .post_task(&url, &format!("fwd-{i}.n{step}"), doc)
                    .await?;
                x = value_of(&answer)?;
            }
            Ok(answer)
        })
    });
    oaas_bench::forward::start(handler).await
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Stats {
    throughput: f64,
    p50: Duration,
    p99: Duration,
}

/// Runs `calls` operations at `concurrency`, timing each.
async fn measure<F, Fut>(calls: usize, concurrency: usize, op: F) -> Result<Stats, String>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (op, next) = (op.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut times = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= calls {
                    return Ok::<_, String>(times);
                }
                let t = Instant::now();
                op(i).await?;
                times.push(t.elapsed());
            }
        }));
    }
    let mut all = Vec::with_capacity(calls);
    for w in workers {
        all.extend(w.await.map_err(|e| e.to_string())??);
    }
    let elapsed = started.elapsed();
    all.sort();
    Ok(Stats {
        throughput: calls as f64 / elapsed.as_secs_f64(),
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// What `--only` may name.
const SIDES: [&str; 4] = ["macro", "forward", "direct", "mut"];

/// Objects the macro that changes its object spreads over, so that concurrent macros rarely
/// wait for each other's turn on one object.
const MUT_OBJECTS: usize = 1000;

/// The command line.
struct Options {
    calls_c1: usize,
    calls_c64: usize,
    store: oaas_runtime::StoreLocation,
    replicas: usize,
    connections: usize,
    /// The one side to run (`--only`), or all.
    only: Option<String>,
}

impl Options {
    /// Whether `side` runs.
    fn runs(&self, side: &str) -> bool {
        self.only.as_deref().is_none_or(|o| o == side)
    }

    /// Whether the macro that changes its object is measured (`--only mut`, or no `--only`).
    fn runs_mut(&self) -> bool {
        self.runs("mut")
    }
}

fn options() -> Result<Options, String> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let arg = |name: &str, default: usize| -> usize {
        value(name).and_then(|v| v.parse().ok()).unwrap_or(default)
    };
    let store = match value("--store") {
        Some(url) => oaas_runtime::StoreLocation::parse(url)?,
        None if args.iter().any(|a| a == "--store") => oaas_runtime::StoreLocation::parse("")?,
        None => oaas_runtime::StoreLocation::Sqlite,
    };
    let only = value("--only").cloned();
    if let Some(side) = only.as_deref().filter(|o| !SIDES.contains(o)) {
        return Err(format!(
            "--only: `{side}` is none of `macro`, `forward`, `direct` and `mut`"
        ));
    }
    Ok(Options {
        calls_c1: arg("--calls-c1", if quick { 100 } else { 1000 }),
        calls_c64: arg("--calls-c64", if quick { 1000 } else { 10_000 }),
        store,
        replicas: arg("--replicas", 1).clamp(1, 8),
        connections: arg(
            "--store-connections",
            oaas_runtime::store::postgres::DEFAULT_CONNECTIONS,
        ),
        only,
    })
}

/// One macro through the runtime at `url`, checked: `three(x: i)` is i + 3.
async fn macro_call(client: reqwest::Client, url: String, i: usize) -> Result<(), String> {
    let r = client
        .post(&url)
        .json(&json!({"x": i}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let v: Value = r.json().await.map_err(|e| e.to_string())?;
    if v["result"].as_i64() != Some(i as i64 + 3) {
        return Err(format!("wrong macro result: {v}"));
    }
    Ok(())
}

/// The macro's three steps as three direct calls of the container at `url`, each taking
/// the last one's result.
async fn direct_calls(
    client: reqwest::Client,
    url: String,
    id: String,
    i: usize,
) -> Result<(), String> {
    direct_steps(client, url, id, "f", i).await
}

/// Three direct calls of `function` of the container at `url`, each taking the last one's
/// result.
async fn direct_steps(
    client: reqwest::Client,
    url: String,
    id: String,
    function: &str,
    i: usize,
) -> Result<(), String> {
    let mut x = i as i64;
    for step in 0..3 {
        let r = client
            .post(&url)
            .header("ce-specversion", "1.0")
            .json(&task_of(function, &id, i, step, x))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        x = value_of(&r.bytes().await.map_err(|e| e.to_string())?)?;
    }
    if x != i as i64 + 3 {
        return Err("wrong direct result".into());
    }
    Ok(())
}

/// The three steps through the bare forwarder at `url`.
async fn forward_call(client: reqwest::Client, url: String, i: usize) -> Result<(), String> {
    let r = client
        .post(format!("{url}/{i}"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        return Err(format!("forwarder answered {}", r.status()));
    }
    let x = value_of(&r.bytes().await.map_err(|e| e.to_string())?)?;
    if x != i as i64 + 3 {
        return Err("wrong forwarded result".into());
    }
    Ok(())
}

/// The container, in-process on an ephemeral port; its URL.
async fn start_container() -> Result<String, String> {
    let (listener, container) = runtime::ephemeral().await?;
    tokio::spawn(async move {
        let _ = Functions::new()
            .function("chain.Chain", "f", f)
            .function("chain.Chain", "g", g)
            .serve(listener)
            .await;
    });
    Ok(container)
}

async fn run() -> Result<(), String> {
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        println!("macro-bench [--quick] [--calls-c1 N] [--calls-c64 N] [--store postgres://USER@HOST:PORT/DB [--replicas N] [--store-connections N]] [--only macro|forward|direct|mut]");
        return Ok(());
    }
    let o = options()?;
    let container = start_container().await?;
    // The runtimes, on a fresh store.
    let data = std::env::temp_dir().join(format!("oaas-macro-bench-{}", std::process::id()));
    let runtimes = runtime::start_replicas(&o.store, o.replicas, o.connections, &data).await?;
    let base = runtimes[0].url();
    let client = runtime::client(256, &runtimes[0].token)?;
    let source = format!(
        "package chain\n\n@url(\"{container}\")\nclass Chain {{\n  public state n: int = 0\n  public fn f(x: int) -> int\n  public mut fn g(x: int) -> int\n\n  public macro three(x: int) -> int {{\n    let a = self.f(x: x)\n    let b = self.f(x: a)\n    return self.f(x: b)\n  }}\n\n  public macro three_mut(x: int) -> int {{\n    let a = self.g(x: x)\n    let b = self.g(x: a)\n    return self.g(x: b)\n  }}\n}}\n"
    );
    runtime::deploy(&client, &base, "chain.oaas", &source).await?;
    let created = runtime::create_object(&client, &base, "chain.Chain").await?;
    let id = created["id"].as_str().unwrap_or_default().to_string();

    let urls: Arc<Vec<String>> = Arc::new(
        runtimes
            .iter()
            .map(|r| format!("{}/api/objects/{id}/invoke/three", r.url()))
            .collect(),
    );
    let (c, u) = (client.clone(), urls.clone());
    let macro_op = Arc::new(move |i: usize| macro_call(c.clone(), u[i % u.len()].clone(), i));
    let (c, url, obj) = (client.clone(), format!("{container}/"), id.clone());
    let direct_op = Arc::new(move |i: usize| direct_calls(c.clone(), url.clone(), obj.clone(), i));
    let forwarder = start_forwarder(&container, &id).await?;
    let c = client.clone();
    let forward_op = Arc::new(move |i: usize| forward_call(c.clone(), forwarder.clone(), i));
    // Warm up every path (connections, caches, the container).
    {
        let (m, d, f) = (macro_op.clone(), direct_op.clone(), forward_op.clone());
        measure(50, 4, move |i| m(i)).await?;
        measure(50, 4, move |i| d(i)).await?;
        measure(50, 4, move |i| f(i)).await?;
    }
    println!(
        "three-step macro vs. three direct calls ({} cores; store: {}, {} runtime(s), at most {} PostgreSQL connections each)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        match &o.store {
            oaas_runtime::StoreLocation::Sqlite => "SQLite",
            oaas_runtime::StoreLocation::Postgres(_) => "PostgreSQL",
        },
        o.replicas,
        o.connections
    );
    println!(
        "{:<8} {:>5} {:>8} {:>12} {:>10} {:>10}",
        "mode", "conc", "calls", "ops/s", "p50 ms", "p99 ms"
    );
    for (concurrency, calls) in [(1usize, o.calls_c1), (64, o.calls_c64)] {
        let d = direct_op.clone();
        let n = if o.runs("direct") { calls } else { 0 };
        let direct = measure(n, concurrency, move |i| d(i)).await?;
        let f = forward_op.clone();
        let n = if o.runs("forward") { calls } else { 0 };
        let forward = measure(n, concurrency, move |i| f(i + 2_000_000)).await?;
        let m = macro_op.clone();
        let n = if o.runs("macro") { calls } else { 0 };
        let through = measure(n, concurrency, move |i| m(i + 1_000_000)).await?;
        print_round(concurrency, calls, &direct, &forward, &through);
    }
    if o.runs_mut() {
        mut_round(&client, &runtimes, &container, o.calls_c64).await?;
    }
    for (n, rt) in runtimes.into_iter().enumerate() {
        rt.stop().await;
        let _ = std::fs::remove_dir_all(runtime::replica_data(&data, n));
    }
    Ok(())
}

/// The macro whose three steps change its object (`three_mut`, each a `mut` call committed
/// as a new version before the next), over [`MUT_OBJECTS`] objects at concurrency 64,
/// against the same three calls made directly (nothing stored).
async fn mut_round(
    client: &reqwest::Client,
    runtimes: &[oaas_runtime::Running],
    container: &str,
    calls: usize,
) -> Result<(), String> {
    let base = runtimes[0].url();
    let mut ids = Vec::with_capacity(MUT_OBJECTS);
    for _ in 0..MUT_OBJECTS {
        let created = runtime::create_object(client, &base, "chain.Chain").await?;
        ids.push(created["id"].as_str().unwrap_or_default().to_string());
    }
    let urls: Arc<Vec<String>> = Arc::new(
        ids.iter()
            .enumerate()
            .map(|(n, id)| {
                format!(
                    "{}/api/objects/{id}/invoke/three_mut",
                    runtimes[n % runtimes.len()].url()
                )
            })
            .collect(),
    );
    let ids = Arc::new(ids);
    let (c, u) = (client.clone(), urls.clone());
    let through = measure(calls, 64, move |i| {
        macro_call(c.clone(), u[i % u.len()].clone(), i)
    })
    .await?;
    let (c, url) = (client.clone(), format!("{container}/"));
    let direct = measure(calls, 64, move |i| {
        direct_steps(c.clone(), url.clone(), ids[i % ids.len()].clone(), "g", i)
    })
    .await?;
    print_row("direct", 64, calls, &direct);
    print_row("mut", 64, calls, &through);
    println!(
        "  c=64, a macro of three `mut` steps ({MUT_OBJECTS} objects, each step a new version committed): throughput ratio macro/direct = {:.2} (no goal set)",
        through.throughput / direct.throughput
    );
    Ok(())
}

/// One side's line of the table: throughput, p50 and p99.
fn print_row(name: &str, concurrency: usize, calls: usize, s: &Stats) {
    println!(
        "{name:<8} {concurrency:>5} {calls:>8} {:>12.0} {:>10.3} {:>10.3}",
        s.throughput,
        ms(s.p50),
        ms(s.p99)
    );
}

/// One concurrency's figures, and the macro and the forwarder against the direct calls.
fn print_round(concurrency: usize, calls: usize, direct: &Stats, forward: &Stats, through: &Stats) {
    let sides = [("direct", direct), ("forward", forward), ("macro", through)];
    // With `--only`, the sides not run are left out rather than shown at 0 ops/s.
    for (name, s) in sides.iter().filter(|(_, s)| s.throughput > 0.0) {
        print_row(name, concurrency, calls, s);
    }
    if sides.iter().any(|(_, s)| s.throughput <= 0.0) {
        return;
    }
    println!(
        "  c={concurrency}: the macro adds {:.3} ms to p50; throughput ratio macro/direct = {:.2}, forward/direct = {:.2}, macro/forward = {:.2}",
        ms(through.p50) - ms(direct.p50),
        through.throughput / direct.throughput,
        forward.throughput / direct.throughput,
        through.throughput / forward.throughput
    );
    if concurrency == 64 {
        let ratio = through.throughput / direct.throughput;
        println!(
            "goal (issue 19): the macro at c=64 >= {GOAL_RATIO} of direct: {} ({ratio:.3}; a bare forwarder keeps {:.2})",
            if ratio >= GOAL_RATIO { "met" } else { "MISSED" },
            forward.throughput / direct.throughput
        );
    }
}

/// Issue 19's goal for the macro's throughput at c=64, as a share of three direct calls'.
const GOAL_RATIO: f64 = 0.6;
