//! `blob-bench`: what a file read costs through the object access interface, beside reading
//! the storage directly, in the same run. RUNTIME.md's aim: "file reads by redirect cost
//! about what reading the storage directly costs".
//!
//! ```text
//! cargo run --release -p oaas-bench --bin blob-bench -- [--reads N] [--concurrency N] [--s3]
//! ```
//!
//! With `--s3` the files are in a bucket of a local `s3s-fs` (started by the bench; see
//! `oaas_runtime::blobs::s3_testing`): *storage* is then the bucket's presigned URL, and
//! *disk* the file `s3s-fs` keeps.
//!
//! An in-process runtime (real SQLite, real HTTP on loopback) holds one object per file size
//! (4 KiB, 1 MiB, 16 MiB), uploaded through its signed PUT URL. Each size is then read N times
//! in each of four ways, in turns:
//!
//! - *disk*: the blob's file read from the data folder (no HTTP at all; the floor);
//! - *storage*: `GET` of a signed blob URL obtained once (the storage's own HTTP read: what
//!   a client that already holds a URL pays, and what S3 would be);
//! - *redirect*: `GET /api/objects/{id}/files/data`, following its `307` to a fresh signed
//!   URL (the object access interface, as clients use it);
//! - *relay*: the same with `?relay=true`, the bytes streamed through the runtime.
//!
//! It prints p50 and p99 latency and throughput for each, and redirect / storage at the
//! median. The small file is also read at concurrency `--concurrency` (default 16).

// The same allocator as the `oaasc` binary, which runs the runtime.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use oaas_bench::runtime;
use oaas_runtime::blobs::s3_testing::{S3Server, BUCKET};
use std::path::PathBuf;
use std::time::{Duration, Instant};

struct Options {
    reads: usize,
    concurrency: usize,
    s3: bool,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        reads: 200,
        concurrency: 16,
        s3: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .filter(|n| *n > 0)
                .ok_or(format!("{name} takes a positive number"))
        };
        match a.as_str() {
            "--reads" => o.reads = number("--reads")?,
            "--concurrency" => o.concurrency = number("--concurrency")?,
            "--s3" => o.s3 = true,
            "-h" | "--help" => {
                println!("blob-bench [--reads N] [--concurrency N] [--s3]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}` (see --help)")),
        }
    }
    Ok(o)
}

fn main() {
    let result = options().and_then(|o| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?
            .block_on(run(o))
    });
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// Latencies of one way of reading, and the bytes each read got.
struct Series {
    name: &'static str,
    times: Vec<Duration>,
    bytes: usize,
}

impl Series {
    fn new(name: &'static str) -> Series {
        Series {
            name,
            times: Vec::new(),
            bytes: 0,
        }
    }

    fn percentile(&self, p: f64) -> Duration {
        let mut t = self.times.clone();
        t.sort();
        t.get(((t.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or_default()
    }
}

async fn run(o: Options) -> Result<(), String> {
    let data = std::env::temp_dir().join(format!("oaas-blob-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let listen = "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?;
    let mut config = oaas_runtime::Config::new(data.clone(), listen, std::env::temp_dir());
    let bucket = if o.s3 {
        let server = S3Server::start().ok_or("--s3 needs s3s-fs")?;
        config.blobs = oaas_runtime::BlobsLocation::parse(&format!("s3://{BUCKET}"))?;
        config.s3 = Some(server.settings());
        Some(server)
    } else {
        None
    };
    // Where the bytes of blob keys end up on this machine.
    let disk = match &bucket {
        Some(server) => server.root().join(BUCKET),
        None => data.join("blobs"),
    };
    let running = oaas_runtime::start(config).await?;
    let base = running.url();
    let client = runtime::client(64, &running.token)?;
    // Signed URLs get no token: a bucket would take it for its own kind of authorization.
    let plain = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .tcp_nodelay(true)
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let source =
        "package blobs\n\nclass Blob {\n  public file data: \"application/octet-stream\"\n}\n";
    runtime::deploy(&client, &base, "blobs.oaas", source).await?;

    println!(
        "blob-bench: {} reads per way and size, in turns; runtime on {base}",
        o.reads
    );
    println!("| size | way | p50 | p99 | MB/s at p50 |\n| --- | --- | --- | --- | --- |");
    let mut summary = Vec::new();
    for size in [4 << 10, 1 << 20, 16 << 20] {
        let (id, path) = upload(&client, &plain, &base, &disk, size).await?;
        let api = format!("{base}/api/objects/{id}/files/data");
        let signed = signed_url(&api, &running.token).await?;
        let urls = Urls { path, signed, api };
        let ways = read_ways(&client, &plain, &urls, size, o.reads).await?;
        print_ways(size, &ways);
        let ratio = ways[2].percentile(0.5).as_secs_f64() / ways[1].percentile(0.5).as_secs_f64();
        summary.push(format!(
            "{}: redirect / storage at p50 {ratio:.2}, relay / storage {:.2}",
            human(size),
            ways[3].percentile(0.5).as_secs_f64() / ways[1].percentile(0.5).as_secs_f64()
        ));
        if size == 4 << 10 {
            // Many small reads at once: requests per second.
            for (name, url, c) in [
                ("storage", &urls.signed, &plain),
                ("redirect", &urls.api, &client),
            ] {
                let rate = concurrent(c, url, o.concurrency, o.reads * 4).await?;
                summary.push(format!(
                    "4 KiB at concurrency {}: {name} {rate:.0} reads/s",
                    o.concurrency
                ));
            }
        }
    }
    println!();
    for line in summary {
        println!("{line}");
    }
    running.stop().await;
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

/// Where one file is read from: the disk, the storage's signed URL, the runtime's file path.
struct Urls {
    path: PathBuf,
    signed: String,
    api: String,
}

/// `reads` reads of a file of `size` bytes each way, in turns: from the disk, from the
/// storage, through the runtime's redirect (`client` has the token, `plain` none) and
/// relayed by the runtime.
async fn read_ways(
    client: &reqwest::Client,
    plain: &reqwest::Client,
    urls: &Urls,
    size: usize,
    reads: usize,
) -> Result<[Series; 4], String> {
    let mut ways = [
        Series::new("disk"),
        Series::new("storage"),
        Series::new("redirect"),
        Series::new("relay"),
    ];
    let relay = format!("{}?relay=true", urls.api);
    for _ in 0..reads {
        for (i, way) in ways.iter_mut().enumerate() {
            let t = Instant::now();
            let got = match i {
                0 => tokio::fs::read(&urls.path)
                    .await
                    .map_err(|e| e.to_string())?
                    .len(),
                1 => fetch(plain, &urls.signed).await?,
                2 => fetch(client, &urls.api).await?,
                _ => fetch(client, &relay).await?,
            };
            way.times.push(t.elapsed());
            if got != size {
                return Err(format!("{}: read {got} bytes of {size}", way.name));
            }
            way.bytes = got;
        }
    }
    Ok(ways)
}

/// One row per way for files of `size` bytes.
fn print_ways(size: usize, ways: &[Series]) {
    for way in ways {
        let p50 = way.percentile(0.5);
        println!(
            "| {} | {} | {} | {} | {:.0} |",
            human(size),
            way.name,
            ms(p50),
            ms(way.percentile(0.99)),
            way.bytes as f64 / p50.as_secs_f64() / 1e6
        );
    }
}

/// Creates an object and uploads `size` bytes as its file; returns its id and the blob's
/// path under `disk`.
async fn upload(
    client: &reqwest::Client,
    plain: &reqwest::Client,
    base: &str,
    disk: &std::path::Path,
    size: usize,
) -> Result<(String, std::path::PathBuf), String> {
    let created = runtime::create_object(client, base, "blobs.Blob").await?;
    let id = created["id"].as_str().unwrap_or_default().to_string();
    let put = created["upload"]["data"]
        .as_str()
        .ok_or(format!("no upload URL: {created}"))?;
    let bytes: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
    let r = plain
        .put(put)
        .header(reqwest::header::IF_NONE_MATCH, "*")
        .body(bytes)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        return Err(format!("upload: {}", r.status()));
    }
    let path = disk.join(format!("objects/{id}/v1/data"));
    if !path.exists() {
        return Err(format!("no blob at {}", path.display()));
    }
    Ok((id, path))
}

/// The signed URL the file's redirect points to.
async fn signed_url(api: &str, token: &str) -> Result<String, String> {
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let r = no_redirect
        .get(api)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    r.headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(str::to_string)
        .ok_or(format!("no redirect from {api}: {}", r.status()))
}

/// GETs a URL (following redirects) and returns how many bytes came.
async fn fetch(client: &reqwest::Client, url: &str) -> Result<usize, String> {
    let r = client.get(url).send().await.map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        return Err(format!("GET {url}: {}", r.status()));
    }
    Ok(r.bytes().await.map_err(|e| e.to_string())?.len())
}

/// `total` reads of `url`, `concurrency` at a time; reads per second.
async fn concurrent(
    client: &reqwest::Client,
    url: &str,
    concurrency: usize,
    total: usize,
) -> Result<f64, String> {
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let (client, url) = (client.clone(), url.to_string());
        let mine = total / concurrency + usize::from(w < total % concurrency);
        workers.push(tokio::spawn(async move {
            for _ in 0..mine {
                fetch(&client, &url).await?;
            }
            Ok::<(), String>(())
        }));
    }
    for w in workers {
        w.await.map_err(|e| e.to_string())??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn human(size: usize) -> String {
    if size >= 1 << 20 {
        format!("{} MiB", size >> 20)
    } else {
        format!("{} KiB", size >> 10)
    }
}
