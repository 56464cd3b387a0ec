//! Counters for `/metrics`, in Prometheus text format: invocations, failures and latencies
//! per function.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

const BUCKETS_MS: &[f64] = &[
    1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0,
];

#[derive(Default, Clone)]
struct Series {
    calls: u64,
    failures: u64,
    reused: u64,
    sum_ms: f64,
    buckets: Vec<u64>,
}

/// The runtime's counters.
#[derive(Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(String, String), Series>>,
}

impl Metrics {
    /// Records one finished call of `class.function`.
    pub fn record(&self, class: &str, function: &str, millis: f64, failed: bool) {
        let Ok(mut map) = self.series.lock() else {
            return;
        };
        let s = map
            .entry((class.to_string(), function.to_string()))
            .or_insert_with(|| Series {
                buckets: vec![0; BUCKETS_MS.len()],
                ..Default::default()
            });
        s.calls += 1;
        if failed {
            s.failures += 1;
        }
        s.sum_ms += millis;
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            if millis <= *b {
                s.buckets[i] += 1;
            }
        }
    }

    /// Records that a finished call of `class.function` was answered by a recorded result
    /// (`@memo`): no container ran for it.
    pub fn reused(&self, class: &str, function: &str) {
        let Ok(mut map) = self.series.lock() else {
            return;
        };
        if let Some(s) = map.get_mut(&(class.to_string(), function.to_string())) {
            s.reused += 1;
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let map = self.series.lock().map(|m| m.clone()).unwrap_or_default();
        let _ = writeln!(
            out,
            "# HELP oaas_invocations_total Calls of functions, by class and function."
        );
        let _ = writeln!(out, "# TYPE oaas_invocations_total counter");
        for ((c, f), s) in &map {
            let _ = writeln!(
                out,
                "oaas_invocations_total{{class=\"{c}\",function=\"{f}\"}} {}",
                s.calls
            );
        }
        let _ = writeln!(
            out,
            "# HELP oaas_failures_total Calls that failed after their retries."
        );
        let _ = writeln!(out, "# TYPE oaas_failures_total counter");
        for ((c, f), s) in &map {
            let _ = writeln!(
                out,
                "oaas_failures_total{{class=\"{c}\",function=\"{f}\"}} {}",
                s.failures
            );
        }
        let _ = writeln!(
            out,
            "# HELP oaas_reused_total Calls of `@memo` functions answered by a recorded result, with no container."
        );
        let _ = writeln!(out, "# TYPE oaas_reused_total counter");
        for ((c, f), s) in map.iter().filter(|(_, s)| s.reused > 0) {
            let _ = writeln!(
                out,
                "oaas_reused_total{{class=\"{c}\",function=\"{f}\"}} {}",
                s.reused
            );
        }
        let _ = writeln!(
            out,
            "# HELP oaas_invocation_duration_ms Time from request to committed result."
        );
        let _ = writeln!(out, "# TYPE oaas_invocation_duration_ms histogram");
        for ((c, f), s) in &map {
            for (i, b) in BUCKETS_MS.iter().enumerate() {
                let _ = writeln!(out, "oaas_invocation_duration_ms_bucket{{class=\"{c}\",function=\"{f}\",le=\"{b}\"}} {}", s.buckets[i]);
            }
            let _ = writeln!(out, "oaas_invocation_duration_ms_bucket{{class=\"{c}\",function=\"{f}\",le=\"+Inf\"}} {}", s.calls);
            let _ = writeln!(
                out,
                "oaas_invocation_duration_ms_sum{{class=\"{c}\",function=\"{f}\"}} {}",
                s.sum_ms
            );
            let _ = writeln!(
                out,
                "oaas_invocation_duration_ms_count{{class=\"{c}\",function=\"{f}\"}} {}",
                s.calls
            );
        }
        out
    }
}
