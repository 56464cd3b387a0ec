//! `oaasc invocations`: list and read invocations on a running runtime.

use crate::client::{self, encode, Client, ClientError};
use crate::exit;
use clap::{Args, Subcommand};
use oaas_runtime::api::types::{InvocationPage, InvocationResponse, InvocationSummary};
use oaas_runtime::ids::Target;
use oaas_runtime::store::{InvocationStatus, NodeStatus};
use serde_json::Value;
use std::time::Duration;

/// List and read invocations (status, result or error, per-node progress of macros).
///
/// Examples:
///   oaasc invocations list --status failed
///   oaasc invocations list --object OBJECT_ID --limit 10
///   oaasc invocations get INVOCATION_ID
///   oaasc invocations wait INVOCATION_ID --timeout 30
///   oaasc invocations get INVOCATION_ID --cluster http://10.0.0.5:6000
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct InvocationsArgs {
    #[command(subcommand)]
    command: InvocationsCommand,
    #[command(flatten)]
    runtime: client::Remote,
}

#[derive(Subcommand)]
enum InvocationsCommand {
    /// The recorded invocations, newest first, one a line: asynchronous calls, calls with an
    /// Idempotency-Key, and macros (a plain synchronous call records only its result, and a
    /// synchronous macro that changes nothing and ends within 0.1 s records nothing).
    List {
        /// Only those with this status.
        #[arg(long, value_parser = ["pending", "succeeded", "failed"])]
        status: Option<String>,
        /// Only the calls made on this object.
        #[arg(long, value_name = "OBJECT_ID")]
        object: Option<String>,
        /// Page size, 1 to 100.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Continue before this id (from the previous page's `more: --before ID`).
        #[arg(long, value_name = "INVOCATION_ID")]
        before: Option<String>,
        /// Print the runtime's JSON page (`items`, `next_before`).
        #[arg(long)]
        json: bool,
    },
    /// Wait for an invocation to finish, then print its result (exit 0) or its error (exit 1).
    Wait {
        /// The invocation id.
        id: String,
        /// Give up after this many seconds (exit 1); by default wait as long as it runs.
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<u64>,
        /// Print the finished invocation's record as JSON.
        #[arg(long)]
        json: bool,
    },
    /// One invocation, as JSON.
    Get {
        /// The invocation id.
        id: String,
        /// Print JSON (as every cluster command takes; this one always prints JSON).
        #[arg(long)]
        json: bool,
    },
}

/// Runs the command and returns the exit code.
pub fn run(args: InvocationsArgs) -> u8 {
    let client = args.runtime.client();
    super::block_on(async move {
        let printed = match args.command {
            InvocationsCommand::Wait { id, timeout, json } => {
                return wait(&client, &id, timeout, json).await
            }
            InvocationsCommand::Get { id, json: _ } => client
                .get::<InvocationResponse>(&format!("/api/invocations/{}", encode(&id)))
                .await
                .map(|v| println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default())),
            InvocationsCommand::List {
                status,
                object,
                limit,
                before,
                json,
            } => {
                let query = list_query(
                    status.as_deref(),
                    object.as_deref(),
                    limit,
                    before.as_deref(),
                );
                client
                    .get::<InvocationPage>(&format!("/api/invocations?{query}"))
                    .await
                    .map(|page| print_page(&page, json))
            }
        };
        match printed {
            Ok(()) => exit::OK,
            Err(e) => {
                eprintln!("error: {e}");
                e.exit_code()
            }
        }
    })
}

/// `invocations wait`: the result or the error once the invocation has finished, a macro's
/// nodes shown meanwhile.
async fn wait(client: &Client, id: &str, timeout: Option<u64>, json: bool) -> u8 {
    let bar = NodeBar::new();
    let finished = until_finished(client, id, |inv| bar.show(inv));
    let waited = match timeout {
        Some(s) => tokio::time::timeout(Duration::from_secs(s), finished).await,
        None => Ok(finished.await),
    };
    bar.clear();
    let inv = match waited {
        Ok(Ok(inv)) => inv,
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
        Err(_) => {
            eprintln!(
                "error: `{id}` is still pending after {} s",
                timeout.unwrap_or(0)
            );
            return exit::FAILED;
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&inv).unwrap_or_default());
    } else if let Some(e) = &inv.error {
        eprintln!("error: {}", e.message);
    } else {
        print!(
            "{}",
            client::render_result(inv.result.as_ref().unwrap_or(&Value::Null))
        );
    }
    match inv.status {
        InvocationStatus::Succeeded => exit::OK,
        _ => exit::FAILED,
    }
}

/// The invocation `id` once it is no longer pending, asked for every 100 ms (each answer
/// shown to `seen`).
pub(super) async fn until_finished(
    client: &Client,
    id: &str,
    mut seen: impl FnMut(&InvocationResponse),
) -> Result<InvocationResponse, ClientError> {
    let path = format!("/api/invocations/{}", encode(id));
    loop {
        let inv = client.get::<InvocationResponse>(&path).await?;
        seen(&inv);
        if inv.status != InvocationStatus::Pending {
            return Ok(inv);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The query of `GET /api/invocations`.
fn list_query(
    status: Option<&str>,
    object: Option<&str>,
    limit: usize,
    before: Option<&str>,
) -> String {
    let mut q = vec![format!("limit={limit}")];
    if let Some(s) = status {
        q.push(format!("status={s}"));
    }
    if let Some(o) = object {
        q.push(format!("object={}", encode(o)));
    }
    if let Some(b) = before {
        q.push(format!("before={}", encode(b)));
    }
    q.join("&")
}

/// A page as JSON, or one line an invocation with the next page's `--before` on stderr.
fn print_page(page: &InvocationPage, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(page).unwrap_or_default());
        return;
    }
    if page.items.is_empty() {
        println!("no invocations");
    }
    for inv in &page.items {
        println!("{}", line(inv));
    }
    if let Some(next) = &page.next_before {
        eprintln!("more: --before {next}");
    }
}

/// `ID  STATUS  CALL  DURATION`, the call written as an object access expression's target.
fn line(inv: &InvocationSummary) -> String {
    let call = match &inv.request.target {
        Target::Object(id) => format!("{id}:{}", inv.request.function),
        Target::Class(class) => format!("{class}.{}", inv.request.function),
    };
    let took = match inv.duration_ms {
        Some(ms) => format!("{ms} ms"),
        None => "running".to_string(),
    };
    format!(
        "{}  {:<9}  {call}  {took}",
        inv.invocation_id,
        inv.status.as_str()
    )
}

/// A macro's nodes on stderr while it runs: finished out of known, and the running ones
/// (hidden when stderr is not a terminal, and for a call with no nodes).
pub(super) struct NodeBar(indicatif::ProgressBar);

impl NodeBar {
    /// A bar not shown yet.
    pub(super) fn new() -> NodeBar {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos}/{len} nodes {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        NodeBar(bar)
    }

    /// Shows where `inv`'s nodes stand.
    pub(super) fn show(&self, inv: &InvocationResponse) {
        if inv.nodes.is_empty() {
            return;
        }
        let finished = inv
            .nodes
            .values()
            .filter(|n| {
                matches!(
                    n.status,
                    NodeStatus::Succeeded | NodeStatus::Failed | NodeStatus::Skipped
                )
            })
            .count();
        self.0.set_length(inv.nodes.len() as u64);
        self.0.set_position(finished as u64);
        let running: Vec<&str> = inv
            .nodes
            .values()
            .filter(|n| matches!(n.status, NodeStatus::Running | NodeStatus::Waiting))
            .map(|n| n.label.as_str())
            .take(3)
            .collect();
        self.0.set_message(running.join(", "));
    }

    /// Takes the bar off the terminal.
    pub(super) fn clear(&self) {
        self.0.finish_and_clear();
    }
}
