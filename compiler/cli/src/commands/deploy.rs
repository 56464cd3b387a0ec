//! `oaasc deploy`: check a package and deploy it to a running runtime.

use crate::client::{self, Client};
use crate::exit;
use clap::Args;
use std::path::PathBuf;

/// Check a package and deploy it to a running runtime.
///
/// `@local` commands run in the package's directory on the runtime's machine.
///
/// Examples:
///   oaasc deploy examples/record --cluster http://127.0.0.1:6000
///   OAAS_CLUSTER=http://10.0.0.5:6000 oaasc deploy examples/video
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct DeployArgs {
    /// A package directory or file.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// The runtime's URL (default: $OAAS_CLUSTER, else http://127.0.0.1:6000).
    #[arg(long)]
    pub cluster: Option<String>,
}

/// Runs the command and returns the exit code.
pub fn run(args: DeployArgs) -> u8 {
    let workspace = match super::load_and_build(&args.path, "not deployed") {
        Ok(built) => built.workspace,
        Err(code) => return code,
    };
    let dir = if args.path.is_dir() {
        args.path.clone()
    } else {
        args.path
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_default()
    };
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    let client = Client::new(&args.cluster.unwrap_or_else(client::default_cluster));
    super::block_on(async move {
        match client
            .post("/api/packages", &client::sources_body(&workspace, &dir))
            .await
        {
            Ok(v) => {
                println!(
                    "deployed {} version {}",
                    v["packages"],
                    v["version"].as_str().unwrap_or("")
                );
                for c in v["classes"].as_array().into_iter().flatten() {
                    println!("  class {}", c.as_str().unwrap_or(""));
                }
                exit::OK
            }
            Err(e) => {
                eprintln!("error: {e}");
                exit::FAILED
            }
        }
    })
}
