//! `check-bench`: generates a package of about 100,000 lines and times parse-only beside a
//! full `Workspace::check()` in the same run, with peak memory for each.
//!
//! ```text
//! cargo run --release -p oaas-bench --bin check-bench -- [--lines N] [--iters N] [--out DIR]
//! ```
//! `--out DIR` also writes the package there, to time `oaasc check DIR` by hand.
//!
//! ```text
//! cargo run --release -p oaas-bench --bin check-bench -- --shapes [--iters N]
//! ```
//! `--shapes` times instead the shapes on which the checker once took quadratic time: a
//! 1,000-deep inheritance chain, 800 duplicate fields on one line (checked and drawn) and
//! 50,000 small classes, each through `Workspace::check_with_graphs`, what `oaasc check`
//! does. Goal: each under 1 s.

// The same allocator as the `oaasc` binary, which runs the checker and the language server.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use oaas_bench::generate;
use oaas_compiler::syntax;
use oaas_compiler::{FileId, Workspace};
use std::time::{Duration, Instant};

struct Options {
    lines: usize,
    iters: usize,
    out: Option<String>,
    shapes: bool,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        lines: 100_000,
        iters: 5,
        out: None,
        shapes: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--lines" => o.lines = value()?.parse().map_err(|e| format!("--lines: {e}"))?,
            "--iters" => o.iters = value()?.parse().map_err(|e| format!("--iters: {e}"))?,
            "--out" => o.out = Some(value()?),
            "--shapes" => o.shapes = true,
            "--help" | "-h" => {
                println!("check-bench [--lines N] [--iters N] [--out DIR]\ncheck-bench --shapes [--iters N]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}` (see --help)")),
        }
    }
    o.iters = o.iters.max(1);
    Ok(o)
}

/// Peak resident memory of this process so far, in KiB (`VmHWM`), if the kernel says.
fn peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the peak to the current resident size (Linux 4.0+), so each phase is measured alone.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mib(kib: Option<u64>) -> String {
    kib.map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
        .unwrap_or_else(|| "n/a".into())
}

fn stats(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    (times[0], times[times.len() / 2])
}

/// CPU time (user + system) this process has used on all its threads, from
/// `/proc/self/stat` (in clock ticks of 10 ms). Unlike wall time, it does not grow when other
/// processes share the cores; it does count the check's parsing threads.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("check-bench: {e}");
            std::process::exit(2);
        }
    };
    if o.shapes {
        shapes(o.iters);
        return;
    }
    let started = Instant::now();
    let package = generate(o.lines, 1_000);
    let bytes: usize = package.files.iter().map(|f| f.text.len()).sum();
    println!(
        "generated {} lines ({:.1} MB) in {} files: {} classes, in {}",
        package.lines,
        bytes as f64 / 1e6,
        package.files.len(),
        package.classes,
        ms(started.elapsed())
    );
    if let Some(dir) = &o.out {
        if let Err(e) = write_package(&package, dir) {
            eprintln!("check-bench: {e}");
            std::process::exit(1);
        }
        println!("wrote the package under {dir}/bench");
    }

    let mut workspace = Workspace::new();
    for f in &package.files {
        workspace.add_file(f.path.clone(), f.text.clone());
    }
    let baseline = peak_kib();
    let resettable = reset_peak();
    let parse = parse_phase(&package, o.iters);
    let parse_peak = peak_kib();
    if resettable {
        reset_peak();
    }
    let (check, diagnostics) = check_phase(&workspace, o.iters);
    let check_peak = peak_kib();

    println!("iterations: {}", o.iters);
    print_phase("parse only", parse);
    let check_median = print_phase("full check", check);
    println!("diagnostics from the full check: {diagnostics}");
    println!(
        "peak memory (VmHWM): before parsing {}, parse-only phase {}, check phase {}{}",
        mib(baseline),
        mib(parse_peak),
        mib(check_peak),
        if resettable {
            " (peak reset between phases)"
        } else {
            " (cumulative: peak could not be reset)"
        }
    );
    let goal = check_median < Duration::from_secs(1) && check_peak.is_some_and(|k| k < 500 * 1024);
    println!(
        "goal (full check < 1 s and < 500 MB): {}",
        if goal { "met" } else { "missed" }
    );
}

/// The generated files under `dir`, to time `oaasc check` on them by hand.
fn write_package(package: &oaas_bench::Generated, dir: &str) -> Result<(), String> {
    for f in &package.files {
        let path = std::path::Path::new(dir).join(&f.path);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        std::fs::write(&path, &f.text)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The wall-clock and CPU times of a phase's iterations (CPU where it can be read).
struct Phase {
    wall: Vec<Duration>,
    cpu: Vec<Duration>,
}

impl Phase {
    fn new() -> Phase {
        Phase {
            wall: Vec::new(),
            cpu: Vec::new(),
        }
    }

    /// Times `f` once.
    fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let (t, c) = (Instant::now(), cpu_time());
        let out = f();
        self.wall.push(t.elapsed());
        if let (Some(before), Some(after)) = (c, cpu_time()) {
            self.cpu.push(after.saturating_sub(before));
        }
        out
    }
}

/// Parsing every file, `iters` times.
fn parse_phase(package: &oaas_bench::Generated, iters: usize) -> Phase {
    let mut phase = Phase::new();
    for _ in 0..iters {
        let errors = phase.time(|| {
            let mut errors = 0;
            for (i, f) in package.files.iter().enumerate() {
                let parsed = syntax::parse(FileId(i as u32 + 1), &f.text);
                errors += parsed.diagnostics.len();
                std::hint::black_box(&parsed);
            }
            errors
        });
        assert_eq!(errors, 0, "the generated package has syntax errors");
    }
    phase
}

/// A full check of the workspace, `iters` times; the diagnostics of the last (the first
/// one told on stderr, since the generated package should have none).
fn check_phase(workspace: &Workspace, iters: usize) -> (Phase, usize) {
    let mut phase = Phase::new();
    let mut diagnostics = 0;
    for _ in 0..iters {
        let analysis = phase.time(|| workspace.check());
        diagnostics = analysis.diagnostics.len();
        if let Some(first) = analysis.diagnostics.first() {
            eprintln!(
                "first diagnostic: {} {} in {}",
                first.code,
                first.message,
                workspace.sources.get(first.primary.file).path
            );
        }
    }
    (phase, diagnostics)
}

/// One phase's line: wall-clock min and median, and CPU when it was read; the wall-clock
/// median.
fn print_phase(name: &str, phase: Phase) -> Duration {
    let (min, median) = stats(phase.wall);
    let cpu = if phase.cpu.is_empty() {
        String::new()
    } else {
        let (cmin, cmed) = stats(phase.cpu);
        format!(
            "   cpu (all threads) min {:>10}  median {:>10}",
            ms(cmin),
            ms(cmed)
        )
    };
    println!(
        "{name:<12} wall min {:>10}  median {:>10}{cpu}",
        ms(min),
        ms(median)
    );
    median
}

/// The shapes that were once quadratic, each named with its text.
fn shape_texts() -> Vec<(&'static str, String)> {
    let mut chain = String::from("package p\n@local(\"python3 f.py\")\nclass C0 { fn f() }\n");
    for i in 1..1_000 {
        chain.push_str(&format!("class C{i} extends C{} {{}}\n", i - 1));
    }
    let fields = vec!["state x: int"; 800].join(" ");
    let duplicates = format!("package p\nclass A {{ {fields} }}\n");
    let mut classes = String::from("package p\n");
    for i in 0..50_000 {
        classes.push_str(&format!("class C{i} {{}}\n"));
    }
    vec![
        ("inheritance chain, 1,000 deep", chain),
        ("800 duplicate fields on one line, drawn", duplicates),
        ("50,000 small classes", classes),
    ]
}

/// `--shapes`: times `check_with_graphs` (and drawing the diagnostics) on each shape.
fn shapes(iters: usize) {
    let mut all_met = true;
    for (name, text) in shape_texts() {
        let mut workspace = Workspace::new();
        workspace.add_file("shape.oaas", text);
        reset_peak();
        let mut times = Vec::new();
        let mut diagnostics = 0;
        for _ in 0..iters {
            let t = Instant::now();
            let build = workspace.check_with_graphs();
            let drawn =
                oaas_compiler::render::render_human(&workspace.sources, &build.diagnostics, false);
            times.push(t.elapsed());
            diagnostics = build.diagnostics.len();
            std::hint::black_box(drawn);
        }
        let (min, med) = stats(times);
        all_met &= med < Duration::from_secs(1);
        println!(
            "{name:<42} min {:>10}  median {:>10}  {diagnostics} diagnostics, peak {}",
            ms(min),
            ms(med),
            mib(peak_kib())
        );
    }
    println!(
        "goal (each < 1 s): {}",
        if all_met { "met" } else { "missed" }
    );
}
