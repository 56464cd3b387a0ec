//! `oaasc packages`: what a running runtime has deployed.

use crate::client::{self, encode};
use crate::exit;
use clap::{Args, Subcommand};
use oaas_runtime::api::types::{PackageSources, PackagesResponse};

/// What a running runtime has deployed: its packages and their current versions, and one
/// package's classes and sources.
///
/// Examples:
///   oaasc packages list
///   oaasc packages get record
///   oaasc packages get record --json | jq -r '.sources[0].text'
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct PackagesArgs {
    #[command(subcommand)]
    command: PackagesCommand,
    #[command(flatten)]
    runtime: client::Remote,
    /// Print the runtime's JSON answer (for `get`, the sources' text included).
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum PackagesCommand {
    /// The deployed packages, one a line: name and current version.
    List,
    /// One package: its current version, its classes and its source files.
    Get {
        /// The package's name.
        name: String,
    },
}

/// Runs the command and returns the exit code.
pub fn run(args: PackagesArgs) -> u8 {
    let client = args.runtime.client();
    let json = args.json;
    super::block_on(async move {
        let printed = match args.command {
            PackagesCommand::List => client
                .get::<PackagesResponse>("/api/packages")
                .await
                .map(|p| print_list(&p, json)),
            PackagesCommand::Get { name } => client
                .get::<PackageSources>(&format!("/api/packages/{}", encode(&name)))
                .await
                .map(|p| print_package(&p, json)),
        };
        match printed {
            Ok(()) => exit::OK,
            Err(e) => {
                eprintln!("error: {e}");
                e.exit_code()
            }
        }
    })
}

fn print_list(list: &PackagesResponse, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(list).unwrap_or_default());
    } else if list.packages.is_empty() {
        println!("no packages");
    } else {
        for p in &list.packages {
            println!("{}  {}", p.name, p.version);
        }
    }
}

fn print_package(p: &PackageSources, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(p).unwrap_or_default());
        return;
    }
    println!("{}  {}", p.name, p.version);
    for c in &p.classes {
        println!("  class {c}");
    }
    for s in &p.sources {
        println!("  source {} ({} lines)", s.path, s.text.lines().count());
    }
}
