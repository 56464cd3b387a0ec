//! `oaasc serve`: run the OaaS runtime (embedded SQLite store or PostgreSQL, local blob
//! folder).

use crate::exit;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Run the OaaS runtime: the HTTP API on SQLite or PostgreSQL, files in a folder or a bucket.
///
/// The object access interface over HTTP, an embedded SQLite store and a local blob folder
/// under --data. Nothing to install. With --store, the records go to a PostgreSQL database
/// instead, and any number of servers on one database (and one bucket) form one runtime
/// (see docs/cluster.md). With --blobs, files go to an S3-compatible bucket, reached by its
/// presigned URLs.
///
/// Examples:
///   oaasc serve                                  # data in .oaas/, listening on 127.0.0.1:6000
///   oaasc serve --data /var/lib/oaas --listen 0.0.0.0:8080
///   oaasc serve --store postgres://oaas@db.example.com:5432/oaas   # records in PostgreSQL
///   AWS_ENDPOINT_URL=http://127.0.0.1:9000 AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \
///     oaasc serve --blobs s3://oaas-files/prod                      # files in a bucket
///
/// Every request needs the admin token (or one minted with `oaasc token create`): it is
/// $OAAS_TOKEN when set, else the file `token` in the data folder, made on first start.
/// Then deploy and call with curl:
///   export OAAS_TOKEN=$(cat .oaas/token)
///   curl -H "Authorization: Bearer $OAAS_TOKEN" localhost:6000/api/packages
///   oaasc deploy examples/record
///
/// A package deployed over HTTP may name @local commands, which the runtime runs, only with
/// --allow-local, or when the server listens on loopback and the deployer is its admin.
/// Exposed on a network, give the name clients use with --public-url (requests addressed
/// to any other name are refused) and put TLS in front (see docs/security.md).
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct ServeArgs {
    /// Data folder (database, blobs, container logs).
    #[arg(long, default_value = ".oaas")]
    pub data: PathBuf,
    /// Keep objects, invocations, packages and tokens in this PostgreSQL database
    /// (postgres://USER@HOST:PORT/DB) instead of the SQLite file in the data folder, which
    /// still holds blobs, logs and the token. Several servers may share one database. From
    /// $OAAS_STORE when not given, so a password need not be on the command line.
    #[arg(long, value_name = "URL", env = "OAAS_STORE", hide_env_values = true, value_parser = oaas_runtime::StoreLocation::parse)]
    pub store: Option<oaas_runtime::StoreLocation>,
    /// Most connections this server opens to the --store database for reads and commits
    /// (2 to 16), besides those holding object locks. Replicas on one database share its
    /// server's cores: give each about 16 divided by their number (docs/cluster.md).
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u64).range(2..=16))]
    pub store_connections: u64,
    /// Keep files in this S3-compatible bucket (s3://BUCKET[/PREFIX]) instead of the folder
    /// blobs/ in the data folder. The server and credentials come from AWS_ENDPOINT_URL,
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION; uploads must send
    /// `If-None-Match: *` (the SDKs do).
    #[arg(long, value_name = "URL", value_parser = oaas_runtime::BlobsLocation::parse)]
    pub blobs: Option<oaas_runtime::BlobsLocation>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:6000")]
    pub listen: SocketAddr,
    /// Where `@image` functions run, `{service}` standing for each image's service name as
    /// `oaasc deploy --emit knative` writes it; e.g.
    /// 'http://{service}.default.svc.cluster.local'. They go before `@local` then.
    #[arg(long, value_name = "TEMPLATE")]
    pub image_url: Option<String>,
    /// The admin token (default: the file `token` in the data folder, made on first start).
    #[arg(long = "token", env = "OAAS_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Let packages deployed over HTTP name @local commands, which this server then runs.
    #[arg(long)]
    pub allow_local: bool,
    /// The URL clients reach this server by (e.g. https://oaas.example.com); requests
    /// addressed to other names than it and loopback are refused (repeatable). The first is
    /// the base of the file URLs the server signs.
    #[arg(long, value_name = "URL")]
    pub public_url: Vec<String>,
    /// The key that signs this server's own file URLs (at least 32 characters), instead of
    /// the file secret.key in the data folder: replicas behind one address need the same
    /// one. From $OAAS_SIGNING_KEY when not given.
    #[arg(
        long,
        value_name = "KEY",
        env = "OAAS_SIGNING_KEY",
        hide_env_values = true
    )]
    pub signing_key: Option<String>,
    /// A browser origin allowed to call the API (e.g. https://app.example.com; repeatable).
    #[arg(long, value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,
    /// Most bytes of one uploaded file.
    #[arg(long, default_value_t = oaas_runtime::DEFAULT_MAX_FILE_SIZE, value_name = "BYTES")]
    pub max_file_size: u64,
    /// Most bytes of a function container's answer.
    #[arg(long, default_value_t = oaas_runtime::DEFAULT_MAX_RESULT_SIZE, value_name = "BYTES")]
    pub max_result_size: usize,
    /// How long this replica holds each running invocation between renewals (1 to 300):
    /// when it dies, another replica on the same --store takes its unfinished invocations
    /// over once their leases expire.
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=300))]
    pub lease_seconds: u64,
}

/// The host (and port) of a URL: `https://oaas.example.com:8443/x` -> `oaas.example.com:8443`.
fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.split('/').next().unwrap_or(rest).to_string()
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
                    .unwrap_or_else(|_| "info,tokio_postgres=warn".into()),
            )
            .with_writer(std::io::stderr)
            .try_init();
        let workdir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let config = oaas_runtime::Config {
            image_url: args.image_url.clone(),
            admin_token: args.admin_token.clone(),
            allow_local: args.allow_local,
            public_hosts: args.public_url.iter().map(|u| url_host(u)).collect(),
            public_url: args.public_url.first().cloned(),
            signing_key: args.signing_key.clone(),
            allowed_origins: args.allow_origin.clone(),
            max_file_size: args.max_file_size,
            max_result_size: args.max_result_size,
            store: args
                .store
                .clone()
                .unwrap_or(oaas_runtime::StoreLocation::Sqlite),
            store_connections: args.store_connections as usize,
            blobs: args
                .blobs
                .clone()
                .unwrap_or(oaas_runtime::BlobsLocation::Folder),
            lease: std::time::Duration::from_secs(args.lease_seconds),
            ..oaas_runtime::Config::new(args.data.clone(), args.listen, workdir)
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
        if let Some(oaas_runtime::BlobsLocation::S3(l)) = &args.blobs {
            eprintln!("files in the bucket s3://{}/{}", l.bucket, l.prefix);
        }
        match &running.token_file {
            Some(file) => eprintln!(
                "admin token in {} (send it as `Authorization: Bearer TOKEN`; `oaasc` commands run from this directory read it)",
                file.display()
            ),
            None => eprintln!("admin token from $OAAS_TOKEN / --token"),
        }
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
