//! `oaasc deploy`: check a package and deploy it to a running runtime.

use crate::client::{self, Client};
use crate::exit;
use crate::k8s;
use clap::Args;
use oaas_compiler::artifact::knative::{knative_manifests, KnativeOptions};
use oaas_compiler::artifact::Artifact;
use oaas_runtime::api::types::DeployResponse;
use std::path::PathBuf;

/// Check a package and deploy it to a running runtime.
///
/// `@local` commands run in the package's directory on the runtime's machine. With
/// `--emit knative`, nothing is deployed: the Knative Services for the package's `@image`
/// functions are printed instead, for `kubectl apply -f -` (see docs/running.md). With
/// `--emit k8s`, the runtime's own Deployment and Service come first (see docs/cluster.md).
///
/// Examples:
///   oaasc deploy examples/record --cluster http://127.0.0.1:6000
///   OAAS_CLUSTER=http://10.0.0.5:6000 oaasc deploy examples/video
///   oaasc deploy examples/video --emit knative --namespace media > video.yaml
///   oaasc deploy examples/video --emit k8s --namespace media --blobs s3://media > all.yaml
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
    /// With --emit k8s: how many runtime replicas.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub replicas: u32,
    /// With --emit k8s: the runtime's container image (`oaasc` as its entry point).
    #[arg(long, default_value = concat!("oaasc:", env!("CARGO_PKG_VERSION")))]
    pub runtime_image: String,
    /// With --emit k8s: the S3 bucket for files, s3://BUCKET[/PREFIX].
    #[arg(long, default_value = "s3://oaas")]
    pub blobs: String,
}

/// What `--emit` writes.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Emit {
    /// One Knative Service (serving.knative.dev/v1) per `@image`.
    Knative,
    /// The runtime's Deployment and Service, then the Knative Services.
    K8s,
}

/// Runs the command and returns the exit code.
pub fn run(args: DeployArgs) -> u8 {
    let (workspace, artifact) = match super::load_and_build(&args.path, "not deployed") {
        Ok(built) => (built.workspace, built.artifact),
        Err(code) => return code,
    };
    if let Some(emit) = args.emit {
        return print_manifests(emit, &artifact, args);
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
                e.exit_code()
            }
        }
    })
}

/// `--emit`: the manifests on stdout, nothing deployed.
fn print_manifests(emit: Emit, artifact: &Artifact, args: DeployArgs) -> u8 {
    if let Emit::K8s = emit {
        if !args.blobs.starts_with("s3://") {
            eprintln!(
                "error: --blobs must be s3://BUCKET[/PREFIX], not `{}`",
                args.blobs
            );
            return exit::USAGE;
        }
        let options = k8s::RuntimeOptions {
            namespace: args.namespace.clone(),
            replicas: args.replicas,
            image: args.runtime_image.clone(),
            blobs: args.blobs.clone(),
        };
        match k8s::runtime_manifests(&options) {
            Ok(text) => print!("{text}"),
            Err(e) => {
                eprintln!("error: cannot write the manifests: {e}");
                return exit::USAGE;
            }
        }
    }
    let options = KnativeOptions {
        runtime_url: args.runtime_url.unwrap_or_else(|| {
            format!(
                "http://{}.{}.svc.cluster.local:{}",
                k8s::NAME,
                args.namespace,
                k8s::PORT
            )
        }),
        namespace: args.namespace,
    };
    print!("{}", knative_manifests(artifact, &options));
    exit::OK
}
