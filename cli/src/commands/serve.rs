//! `oaasc serve`: run the OaaS runtime (embedded SQLite store, local blob folder).

use crate::exit;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Run the OaaS runtime (HTTP API, embedded SQLite store, local blobs).
///
/// The object access interface over HTTP, an embedded SQLite store and a local blob folder
/// under --data. Nothing to install.
///
/// Examples:
///   oaasc serve                                  # data in .oaas/, listening on 127.0.0.1:6000
///   oaasc serve --data /var/lib/oaas --listen 0.0.0.0:8080
///
/// Then deploy and call with curl:
///   curl -X POST localhost:6000/api/packages --data-binary @record.oaas.json
///   curl -X POST localhost:6000/api/classes/record.Record/objects -d '{}'
///   curl -X POST localhost:6000/api/objects/ID/invoke/increment -d '{"by": 2}'
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct ServeArgs {
    /// Data folder (database, blobs, container logs).
    #[arg(long, default_value = ".oaas")]
    pub data: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:6000")]
    pub listen: SocketAddr,
    /// Where `@image` functions run, `{service}` standing for each image's service name as
    /// `oaasc deploy --emit knative` writes it; e.g.
    /// 'http://{service}.default.svc.cluster.local'. They go before `@local` then.
    #[arg(long, value_name = "TEMPLATE")]
    pub image_url: Option<String>,
}

/// Runs the command until Ctrl-C; returns the exit code.
pub fn run(args: ServeArgs) -> u8 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::USAGE;
        }
    };
    rt.block_on(async move {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "info".into()),
            )
            .with_writer(std::io::stderr)
            .try_init();
        let workdir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let config = oaas_runtime::Config {
            data: args.data.clone(),
            listen: args.listen,
            workdir,
            image_url: args.image_url.clone(),
        };
        let running = match oaas_runtime::start(config).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::USAGE;
            }
        };
        eprintln!(
            "oaas runtime listening on {} (data in {})",
            running.url(),
            args.data.display()
        );
        eprintln!(
            "API description: {}/openapi.json; stop with Ctrl-C",
            running.url()
        );
        wait_for_stop().await;
        eprintln!("stopping");
        running.stop().await;
        exit::OK
    })
}

/// Waits for Ctrl-C or, on Unix, SIGTERM (what service managers send).
async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
