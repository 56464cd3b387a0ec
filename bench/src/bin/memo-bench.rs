//! `memo-bench`: what `@memo` saves when a macro runs again.
//!
//! ```text
//! cargo run --release -p oaas-bench --bin memo-bench -- [--rounds N]
//! ```
//!
//! The video example's `detect_faces` (split, frames, faces, merge: real Python containers
//! started by an in-process runtime on SQLite) on the example clip, per round on a new video
//! object: run once (every call reaches a container: the baseline), run again unchanged
//! (recorded results answer), run with `Cache-Control: no-cache` (every container again),
//! and run with another `every_s` (a changed input: only what depends on it runs). Printed
//! per run: wall time, nodes, and container calls counted by the runtime's `/metrics`
//! (calls minus `oaas_reused_total`). Goal: the unchanged rerun calls no container and is at
//! least 20x faster than the first run.
//!
//! Needs the video example's Python packages (`pip install -r examples/video/requirements.txt`
//! and `pip install ./sdk/python`); run from the repository root.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use oaas_bench::runtime;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One macro run: how long it took, its nodes, and the container calls it made.
struct Run {
    took: Duration,
    nodes: usize,
    reused: usize,
    container_calls: u64,
}

/// Calls that reached a container so far: every function call counted by `/metrics`, less
/// those a recorded result answered (the macro's own count is left out).
async fn container_calls(client: &reqwest::Client, base: &str) -> Result<u64, String> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let sum = |metric: &str| -> u64 {
        text.lines()
            .filter(|l| l.starts_with(&format!("{metric}{{")))
            .filter(|l| !l.contains(r#"class="video.Video",function="detect_faces""#))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    Ok(sum("oaas_invocations_total") - sum("oaas_reused_total"))
}

/// Runs `detect_faces(every_s)` on video `id`, synchronously, timing the call.
async fn detect(
    client: &reqwest::Client,
    base: &str,
    id: &str,
    every_s: u64,
    fresh: bool,
) -> Result<Run, String> {
    let before = container_calls(client, base).await?;
    let started = Instant::now();
    let mut post = client
        .post(format!("{base}/api/objects/{id}/invoke/detect_faces"))
        .json(&json!({ "every_s": every_s }));
    if fresh {
        post = post.header("Cache-Control", "no-cache");
    }
    // A synchronous call: it answers when the macro has finished.
    let answer = runtime::json_of(post).await?;
    let took = started.elapsed();
    if answer["status"] != "succeeded" {
        return Err(format!("detect_faces failed: {answer}"));
    }
    let inv = answer["invocation_id"].as_str().unwrap_or_default();
    let record = runtime::json_of(client.get(format!("{base}/api/invocations/{inv}"))).await?;
    let nodes = record["nodes"].as_object().cloned().unwrap_or_default();
    let reused = nodes.values().filter(|v| v["reused"] == true).count();
    let container_calls = container_calls(client, base).await? - before;
    Ok(Run {
        took,
        nodes: nodes.len(),
        reused,
        container_calls,
    })
}

/// A new video object with the clip at `clip` as its `src`; its id.
async fn new_video(client: &reqwest::Client, base: &str, clip: &Path) -> Result<String, String> {
    let create = client.post(format!("{base}/api/classes/video.Video/objects"));
    let created = runtime::json_of(create.json(&json!({"title": "clip"}))).await?;
    let result = &created["result"];
    let upload = result["upload"]["src"]
        .as_str()
        .ok_or(format!("no upload URL: {created}"))?;
    let bytes = std::fs::read(clip).map_err(|e| e.to_string())?;
    let put = reqwest::Client::new()
        .put(upload)
        .body(bytes)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !put.status().is_success() {
        return Err(format!("upload failed: {}", put.status()));
    }
    Ok(result["id"].as_str().unwrap_or_default().to_string())
}

/// One line of the table; `baseline` is the run with warm containers and no reuse.
fn row(what: &str, r: &Run, baseline: &Run) {
    println!(
        "| {what} | {:.1} ms | {:.1}x | {} | {} | {} |",
        r.took.as_secs_f64() * 1000.0,
        baseline.took.as_secs_f64() / r.took.as_secs_f64(),
        r.nodes,
        r.reused,
        r.container_calls
    );
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("memo-bench [--rounds N]   (from the repository root)");
        return Ok(());
    }
    let rounds = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(3usize);
    let example = PathBuf::from("examples/video");
    let source = std::fs::read_to_string(example.join("video.oaas"))
        .map_err(|e| format!("run from the repository root ({e})"))?;
    let work = std::env::temp_dir().join(format!("oaas-memo-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let clip = work.join("clip.mp4");
    let made = std::process::Command::new("python3")
        .arg(example.join("tools/make_clip.py"))
        .arg(&clip)
        .output()
        .map_err(|e| e.to_string())?;
    if !made.status.success() {
        return Err(format!(
            "make_clip.py: {}",
            String::from_utf8_lossy(&made.stderr)
        ));
    }
    let listen = "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?;
    let package = std::fs::canonicalize(&example).map_err(|e| e.to_string())?;
    let config = oaas_runtime::Config {
        allow_local: true,
        ..oaas_runtime::Config::new(work.join("data"), listen, package)
    };
    let running = oaas_runtime::start(config).await?;
    let base = running.url();
    let client = runtime::client(8, &running.token)?;
    runtime::deploy(&client, &base, "video.oaas", &source).await?;
    println!("| run | wall time | speed-up over no-cache | nodes | reused | container calls |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for round in 1..=rounds {
        let id = new_video(&client, &base, &clip).await?;
        // The first run may start the containers; the no-cache run is the baseline: the
        // same calls on warm containers, nothing reused.
        let first = detect(&client, &base, &id, 1, false).await?;
        let fresh = detect(&client, &base, &id, 1, true).await?;
        let again = detect(&client, &base, &id, 1, false).await?;
        let changed = detect(&client, &base, &id, 2, false).await?;
        row(&format!("{round}: first, every_s=1"), &first, &fresh);
        row(&format!("{round}: no-cache (baseline)"), &fresh, &fresh);
        row(&format!("{round}: again, unchanged"), &again, &fresh);
        row(&format!("{round}: every_s=2"), &changed, &fresh);
    }
    drop(running);
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}
