//! `oaasc invocations`: read invocations on a running runtime.

use crate::client::{self, Client};
use crate::exit;
use clap::{Args, Subcommand};
use oaas_runtime::api::types::InvocationResponse;

/// Read invocations (status, result or error, per-node progress of macros).
///
/// Examples:
///   oaasc invocations get INVOCATION_ID
///   oaasc invocations get INVOCATION_ID --cluster http://10.0.0.5:6000
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct InvocationsArgs {
    #[command(subcommand)]
    command: InvocationsCommand,
    /// The runtime's URL (default: $OAAS_CLUSTER, else http://127.0.0.1:6000).
    #[arg(long, global = true)]
    cluster: Option<String>,
    /// The API token (default: $OAAS_TOKEN, else the file `.oaas/token` that `oaasc serve`
    /// writes in its data folder, when run from the same directory).
    #[arg(long, global = true, env = "OAAS_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Subcommand)]
enum InvocationsCommand {
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
    let client = Client::new(
        &args.cluster.clone().unwrap_or_else(client::default_cluster),
        args.token.clone(),
    );
    super::block_on(async move {
        let InvocationsCommand::Get { id, json: _ } = args.command;
        match client
            .get::<InvocationResponse>(&format!("/api/invocations/{id}"))
            .await
        {
            Ok(v) => {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                exit::OK
            }
            Err(e) => {
                eprintln!("error: {e}");
                exit::FAILED
            }
        }
    })
}
