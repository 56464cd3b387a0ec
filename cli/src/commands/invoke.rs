//! `oaasc invoke`: run an object access expression on a running runtime.

use super::invocations::until_finished;
use crate::client::{self, Client};
use crate::exit;
use clap::Args;
use oaas_compiler::syntax::{parse_access_expr, AccessTarget};
use oaas_runtime::api::types::AcceptedResponse;
use serde_json::{Map, Value};

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
    let (path, body) = match request(&args.expr) {
        Ok(r) => r,
        Err(why) => {
            eprintln!("error: {why}");
            return exit::USAGE;
        }
    };
    let path = if args.is_async {
        format!("{path}?async=true")
    } else {
        path
    };
    let client = Client::new(
        &args.cluster.clone().unwrap_or_else(client::default_cluster),
        args.token.clone(),
    )
    .fresh_calls(args.fresh);
    super::block_on(async move {
        let mut answer: Value = match client.post(&path, &Value::Object(body)).await {
            Ok(v) => v,
            Err(e) => {
                eprintln!("error: {e}");
                return e.exit_code();
            }
        };
        if args.is_async && args.wait {
            answer = match finished(&client, answer).await {
                Ok(v) => v,
                Err(why) => {
                    eprintln!("error: {why}");
                    return exit::FAILED;
                }
            };
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

/// The invoke path and the JSON body of an object access expression.
fn request(expr: &str) -> Result<(String, Map<String, Value>), String> {
    let parsed = parse_access_expr(expr)
        .map_err(|d| format!("`{expr}` is not an object access expression: {}", d.message))?;
    let target = &parsed.target;
    let function = &target.function().name;
    let path = match (target, target.class()) {
        (AccessTarget::Object { id, .. }, _) => format!("/api/objects/{id}/invoke/{function}"),
        (_, cls) => format!("/api/classes/{}/invoke/{function}", cls.unwrap_or_default()),
    };
    Ok((path, oaas_runtime::oal::args_to_json(target.args())?))
}

/// The invocation an asynchronous call was `accepted` as, once it has finished; an error
/// when it failed.
async fn finished(client: &Client, accepted: Value) -> Result<Value, String> {
    let accepted: AcceptedResponse = serde_json::from_value(accepted)
        .map_err(|e| format!("the runtime's answer is not an accepted call: {e}"))?;
    let id = accepted.invocation_id;
    let inv = until_finished(client, id.as_str(), |_| {})
        .await
        .map_err(|e| e.to_string())?;
    if let Some(e) = &inv.error {
        return Err(e.message.clone());
    }
    Ok(serde_json::to_value(&inv).unwrap_or(Value::Null))
}
