//! `oaasc invoke`: run an object access expression on a running runtime.

use crate::client::{self, Client};
use crate::exit;
use clap::Args;
use oaas_compiler::syntax::{parse_access_expr, AccessTarget};
use oaas_runtime::api::types::{AcceptedResponse, InvocationResponse};
use oaas_runtime::store::InvocationStatus;
use serde_json::{Map, Value};
use std::time::Duration;

/// Call a function through the object access interface of a running runtime.
///
/// Examples:
///   oaasc invoke 'OBJECT_ID:increment(by=2)'
///   oaasc invoke 'record.Record.new(count=1)'
///   oaasc invoke 'OBJECT_ID:bump_twice(key="a", value="b")' --async --wait
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct InvokeArgs {
    /// The object access expression.
    pub expr: String,
    /// Answer at once with the invocation id (202).
    #[arg(long = "async")]
    pub is_async: bool,
    /// With --async: wait for the invocation to finish and print its result.
    #[arg(long, requires = "is_async")]
    pub wait: bool,
    /// The runtime's URL (default: $OAAS_CLUSTER, else http://127.0.0.1:6000).
    #[arg(long)]
    pub cluster: Option<String>,
    /// The API token (default: $OAAS_TOKEN, else the file `.oaas/token` that `oaasc serve`
    /// writes in its data folder, when run from the same directory).
    #[arg(long, env = "OAAS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the runtime's JSON answer.
    #[arg(long)]
    pub json: bool,
    /// Call `@memo` functions again even when a recorded result would answer (sends
    /// `Cache-Control: no-cache`); the new results are recorded for later calls.
    #[arg(long)]
    pub fresh: bool,
}

/// Runs the command and returns the exit code.
pub fn run(args: InvokeArgs) -> u8 {
    let parsed = match parse_access_expr(&args.expr) {
        Ok(p) => p,
        Err(d) => {
            eprintln!(
                "error: `{}` is not an object access expression: {}",
                args.expr, d.message
            );
            return exit::USAGE;
        }
    };
    let mut body = Map::new();
    let (path, fargs) = match &parsed.target {
        AccessTarget::Object {
            id,
            function,
            args: a,
        } => (format!("/api/objects/{id}/invoke/{}", function.name), a),
        AccessTarget::Static {
            package,
            class,
            function,
            args: a,
        } => {
            let cls = package
                .as_ref()
                .map(|p| format!("{p}.{}", class.name))
                .unwrap_or_else(|| class.name.clone());
            (format!("/api/classes/{cls}/invoke/{}", function.name), a)
        }
    };
    for a in fargs {
        let name = a.name.as_ref().map(|n| n.name.clone()).unwrap_or_default();
        match oaas_runtime::oal::expr_to_json(&a.value) {
            Some(v) => {
                body.insert(name, v);
            }
            None => {
                eprintln!("error: argument `{name}` is not a plain value");
                return exit::USAGE;
            }
        }
    }
    let client = Client::new(
        &args.cluster.clone().unwrap_or_else(client::default_cluster),
        args.token.clone(),
    )
    .fresh_calls(args.fresh);
    super::block_on(async move {
        let path = if args.is_async {
            format!("{path}?async=true")
        } else {
            path
        };
        let mut answer: Value = match client.post(&path, &Value::Object(body)).await {
            Ok(v) => v,
            Err(e) => {
                eprintln!("error: {e}");
                return e.exit_code();
            }
        };
        if args.is_async && args.wait {
            let accepted: AcceptedResponse = match serde_json::from_value(answer) {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("error: the runtime's answer is not an accepted call: {e}");
                    return exit::FAILED;
                }
            };
            let id = accepted.invocation_id;
            let inv = loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                match client
                    .get::<InvocationResponse>(&format!("/api/invocations/{id}"))
                    .await
                {
                    Ok(v) if v.status == InvocationStatus::Pending => continue,
                    Ok(v) => break v,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return exit::FAILED;
                    }
                }
            };
            if let Some(e) = &inv.error {
                eprintln!("error: {}", e.message);
                return exit::FAILED;
            }
            answer = serde_json::to_value(&inv).unwrap_or(Value::Null);
        }
        if args.json || (args.is_async && !args.wait) {
            println!(
                "{}",
                serde_json::to_string_pretty(&answer).unwrap_or_default()
            );
        } else {
            print!("{}", client::render_result(&answer["result"]));
        }
        exit::OK
    })
}
