//! `oaasc token`: mint, list and revoke API tokens on a running runtime (admin only).

use crate::client::{self, Client};
use crate::exit;
use clap::{Args, Subcommand, ValueEnum};
use oaas_runtime::api::types::{MintRequest, TokensResponse};
use oaas_runtime::tokens::{Minted, Role};

/// Mint, list and revoke API tokens (needs the admin token).
///
/// Roles: `read` (public state, files, invocations), `invoke` (also calls and new objects),
/// `deploy` (also deploys; with --package, only those packages). The secret of a new token
/// is printed once; the runtime keeps only its hash.
///
/// Examples:
///   oaasc token create --role invoke
///   oaasc token create --role deploy --package video
///   oaasc token list
///   oaasc token revoke TOKEN_ID
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
    /// The runtime's URL (default: $OAAS_CLUSTER, else http://127.0.0.1:6000).
    #[arg(long, global = true)]
    cluster: Option<String>,
    /// The admin token (default: $OAAS_TOKEN, else `.oaas/token` of an `oaasc serve` run
    /// from the same directory).
    #[arg(long, global = true, env = "OAAS_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Mint a token; prints its secret once.
    Create {
        /// What it may do.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// With `--role deploy`: a package it may deploy (repeatable; all when absent).
        #[arg(long = "package", value_name = "PACKAGE")]
        packages: Vec<String>,
    },
    /// List the minted tokens (ids, roles, packages; never secrets).
    List,
    /// Revoke a token by id: it is refused from then on.
    Revoke {
        /// The token's id.
        id: String,
    },
}

/// A role a minted token can have.
#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Read,
    Invoke,
    Deploy,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Read => Role::Read,
            RoleArg::Invoke => Role::Invoke,
            RoleArg::Deploy => Role::Deploy,
        }
    }
}

/// Runs the command and returns the exit code.
pub fn run(args: TokenArgs) -> u8 {
    let client = Client::new(
        &args.cluster.clone().unwrap_or_else(client::default_cluster),
        args.token.clone(),
    );
    super::block_on(async move {
        let done = match args.command {
            TokenCommand::Create { role, packages } => {
                let req = MintRequest {
                    role: role.into(),
                    packages: (!packages.is_empty()).then_some(packages),
                };
                client.post::<Minted>("/api/tokens", &req).await.map(|m| {
                    println!("{}", m.token);
                    eprintln!(
                        "token {} ({}); its secret is shown once, above",
                        m.id,
                        m.role.as_str()
                    );
                })
            }
            TokenCommand::List => client
                .get::<TokensResponse>("/api/tokens")
                .await
                .map(|list| {
                    if list.tokens.is_empty() {
                        println!("no tokens (the admin token is not listed)");
                    }
                    for t in list.tokens {
                        let packages = t
                            .packages
                            .map(|p| format!(" packages {}", p.join(",")))
                            .unwrap_or_default();
                        println!("{}  {}{packages}", t.id, t.role.as_str());
                    }
                }),
            TokenCommand::Revoke { id } => client
                .delete(&format!("/api/tokens/{}", client::encode(&id)))
                .await
                .map(|_| {
                    eprintln!("revoked {id}");
                }),
        };
        match done {
            Ok(()) => exit::OK,
            Err(e) => {
                eprintln!("error: {e}");
                e.exit_code()
            }
        }
    })
}
