//! `oaasc deploy`: check a package and deploy it to a running runtime.

use crate::client::{self, Client};
use crate::exit;
use clap::Args;
use oaas_compiler::artifact::knative::{knative_manifests, KnativeOptions};
use oaas_runtime::api::types::DeployResponse;
use std::path::PathBuf;

/// Check a package and deploy it to a running runtime.
///
/// `@local` commands run in the package's directory on the runtime's machine. With
/// `--emit knative`, nothing is deployed: the Knative Services for the package's `@image`
/// functions are printed instead, for `kubectl apply -f -` (see docs/running.md).
///
/// Examples:
///   oaasc deploy examples/record --cluster http://127.0.0.1:6000
///   OAAS_CLUSTER=http://10.0.0.5:6000 oaasc deploy examples/video
///   oaasc deploy examples/video --emit knative --namespace media > video.yaml
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct DeployArgs {
    /// A package directory or file.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// The runtime's URL (default: $OAAS_CLUSTER, else http://127.0.0.1:6000).
    #[arg(long)]
    pub cluster: Option<String>,
    /// The API token (default: $OAAS_TOKEN, else the file `.oaas/token` that `oaasc serve`
    /// writes in its data folder, when run from the same directory).
    #[arg(long, env = "OAAS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print manifests for a cluster instead of deploying.
    #[arg(long, value_enum)]
    pub emit: Option<Emit>,
    /// With --emit: the Kubernetes namespace of the services.
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// With --emit: the runtime's URL as containers in the cluster reach it
    /// (default: http://oaas-runtime.NAMESPACE.svc.cluster.local:6000).
    #[arg(long)]
    pub runtime_url: Option<String>,
}

/// What `--emit` writes.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Emit {
    /// One Knative Service (serving.knative.dev/v1) per `@image`.
    Knative,
}

/// Runs the command and returns the exit code.
pub fn run(args: DeployArgs) -> u8 {
    let (workspace, artifact) = match super::load_and_build(&args.path, "not deployed") {
        Ok(built) => (built.workspace, built.artifact),
        Err(code) => return code,
    };
    if let Some(Emit::Knative) = args.emit {
        let options = KnativeOptions {
            runtime_url: args.runtime_url.unwrap_or_else(|| {
                format!(
                    "http://oaas-runtime.{}.svc.cluster.local:6000",
                    args.namespace
                )
            }),
            namespace: args.namespace,
        };
        print!("{}", knative_manifests(&artifact, &options));
        return exit::OK;
    }
    let dir = if args.path.is_dir() {
        args.path.clone()
    } else {
        args.path
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_default()
    };
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    let client = Client::new(
        &args.cluster.unwrap_or_else(client::default_cluster),
        args.token,
    );
    super::block_on(async move {
        match client
            .post::<DeployResponse>("/api/packages", &client::sources_body(&workspace, &dir))
            .await
        {
            Ok(v) => {
                println!("deployed {:?} version {}", v.packages, v.version);
                for c in &v.classes {
                    println!("  class {c}");
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
