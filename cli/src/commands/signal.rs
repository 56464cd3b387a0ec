//! `oaasc signal`: send a signal to a macro's invocation that waits for it (`signal(...)`).

use crate::client::{self, Client};
use crate::exit;
use clap::Args;
use serde_json::Value;
use std::path::PathBuf;

/// Send a signal to an invocation: the value for its macro's `signal("NAME", ...)` wait.
///
/// The signal is kept until a wait for NAME takes it, once: sent before the macro reaches
/// its wait, it is there when it does. By default it goes to the runtime at --cluster (as
/// `oaasc invoke` does); with --data it is written into the data folder of a runtime that is
/// not running, and taken when one runs there again and resumes the invocation.
///
/// Examples:
///   oaasc signal INVOCATION_ID approval --value '{"approved": true, "by": "ann"}'
///   oaasc signal INVOCATION_ID approval --value true --cluster http://10.0.0.5:6000
///   oaasc signal INVOCATION_ID approval --value true --data .oaas
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct SignalArgs {
    /// The invocation id (as `oaasc invoke --async` prints it).
    pub invocation: String,
    /// The signal's name, as the macro's `signal("NAME", ...)` writes it.
    pub name: String,
    /// The value: JSON (`true`, `3`, `{"approved": true}`), else taken as a plain string.
    #[arg(long, value_name = "JSON")]
    pub value: String,
    /// The runtime's URL (default: $OAAS_CLUSTER, else http://127.0.0.1:6000).
    #[arg(long, conflicts_with = "data")]
    pub cluster: Option<String>,
    /// The API token (default: $OAAS_TOKEN, else the file `.oaas/token` that `oaasc serve`
    /// writes in its data folder, when run from the same directory).
    #[arg(long, env = "OAAS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Write the signal into this data folder of a runtime that is not running (SQLite).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Print the runtime's JSON answer.
    #[arg(long)]
    pub json: bool,
}

/// Runs the command and returns the exit code.
pub fn run(args: SignalArgs) -> u8 {
    if !oaas_compiler::check::valid_signal_name(&args.name) {
        eprintln!(
            "error: `{}` is not a signal name: 1 to {} letters, digits, `_`, `-` or `.`",
            args.name,
            oaas_compiler::check::MAX_SIGNAL_NAME
        );
        return exit::USAGE;
    }
    let value = serde_json::from_str::<Value>(&args.value)
        .unwrap_or_else(|_| Value::String(args.value.clone()));
    match args.data.clone() {
        Some(data) => offline(&args, data, value),
        None => online(&args, value),
    }
}

/// To a running runtime, over its API.
fn online(args: &SignalArgs, value: Value) -> u8 {
    let client = Client::new(
        &args.cluster.clone().unwrap_or_else(client::default_cluster),
        args.token.clone(),
    );
    let path = format!(
        "/api/invocations/{}/signals/{}",
        client::encode(&args.invocation),
        client::encode(&args.name)
    );
    super::block_on(async move {
        match client.post::<Value>(&path, &value).await {
            Ok(answer) => {
                print_answer(args, &answer);
                exit::OK
            }
            Err(e) => {
                eprintln!("error: {e}");
                e.exit_code()
            }
        }
    })
}

/// Into the data folder of a runtime that is not running.
fn offline(args: &SignalArgs, data: PathBuf, value: Value) -> u8 {
    let workdir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let config = oaas_runtime::Config::new(data, listen, workdir);
    super::block_on(async move {
        match oaas_runtime::signal_offline(&config, &args.invocation, &args.name, value).await {
            Ok(()) => {
                let answer = serde_json::json!({
                    "invocation_id": args.invocation,
                    "signal": args.name,
                    "status": "stored",
                });
                print_answer(args, &answer);
                exit::OK
            }
            Err(e) => {
                eprintln!("error: {e}");
                exit::FAILED
            }
        }
    })
}

fn print_answer(args: &SignalArgs, answer: &Value) {
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(answer).unwrap_or_default()
        );
    } else {
        println!(
            "signal `{}` stored for invocation {}",
            args.name, args.invocation
        );
    }
}
