//! `oaasc objects`: list, read, create and delete objects on a running runtime, and
//! download their files.

use crate::client::{self, encode, Client, ClientError};
use crate::exit;
use clap::{Args, Subcommand};
use oaas_runtime::api::types::{ObjectPage, VersionsResponse};
use serde_json::{Map, Value};
use std::io::Write;
use std::path::PathBuf;

/// List, read, create and delete objects on a running runtime, and download their files.
///
/// Examples:
///   oaasc objects list record.Record --filter count=3
///   oaasc objects get OBJECT_ID --version 2
///   oaasc objects versions OBJECT_ID
///   oaasc objects create record.Record --set count=1 --set 'data={"a": 1}'
///   oaasc objects file OBJECT_ID src -o clip.mp4
///   oaasc objects delete OBJECT_ID
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct ObjectsArgs {
    #[command(subcommand)]
    command: ObjectsCommand,
    #[command(flatten)]
    runtime: client::Remote,
    /// Print the runtime's JSON answer.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum ObjectsCommand {
    /// The objects of a class, filtered on public state fields, paged.
    List {
        /// `package.Class` (or an unambiguous `Class`).
        class: String,
        /// `field=value` (repeatable); values are JSON or plain strings.
        #[arg(long = "filter", value_name = "FIELD=VALUE")]
        filters: Vec<String>,
        /// Page size, 1 to 1000.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Continue after this id (from the previous page's `next_after`).
        #[arg(long)]
        after: Option<String>,
    },
    /// One object: the newest version or `--version N`.
    Get {
        /// Object id.
        id: String,
        /// A version number.
        #[arg(long)]
        version: Option<u64>,
    },
    /// Every version of an object, oldest first, each with the task that wrote it.
    Versions {
        /// Object id.
        id: String,
    },
    /// Create an object (builtin `new`).
    Create {
        /// `package.Class`.
        class: String,
        /// A state field, `field=value` (repeatable); values are JSON or plain strings.
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        fields: Vec<String>,
    },
    /// Download a file of an object (the newest version's, or `--version N`'s) from where
    /// the runtime keeps it, through the signed URL it gives.
    File {
        /// Object id.
        id: String,
        /// The file's name in its class (`src`).
        name: String,
        /// Where to write it; `-` for standard output.
        #[arg(short, long, value_name = "PATH")]
        output: PathBuf,
        /// A version number.
        #[arg(long)]
        version: Option<u64>,
    },
    /// Delete an object (builtin `delete`): one more version, marked deleted; the earlier
    /// ones stay readable with `get --version N`.
    Delete {
        /// Object id.
        id: String,
    },
}

fn pairs(list: &[String]) -> Result<Vec<(String, String)>, String> {
    list.iter().map(|p| client::split_pair(p)).collect()
}

/// Runs the command and returns the exit code.
pub fn run(args: ObjectsArgs) -> u8 {
    let client = args.runtime.client();
    let json = args.json;
    super::block_on(async move {
        let result = match args.command {
            ObjectsCommand::List {
                class,
                filters,
                limit,
                after,
            } => list(&client, &class, &filters, limit, after.as_deref(), json)
                .await
                .map(Answer::Json),
            ObjectsCommand::Get { id, version } => {
                let q = version.map(|v| format!("?version={v}")).unwrap_or_default();
                client
                    .get::<Value>(&format!("/api/objects/{}{q}", encode(&id)))
                    .await
                    .map(|v| Answer::Json(serde_json::json!({"result": v})))
            }
            ObjectsCommand::Versions { id } => client
                .get::<VersionsResponse>(&format!("/api/objects/{}/versions", encode(&id)))
                .await
                .map(Answer::Versions),
            ObjectsCommand::Create { class, fields } => {
                create(&client, &class, &fields).await.map(Answer::Json)
            }
            ObjectsCommand::File {
                id,
                name,
                output,
                version,
            } => {
                let file = FileRef {
                    id: &id,
                    name: &name,
                    version,
                };
                return match download(&client, &file, &output).await {
                    Ok(bytes) => {
                        if output.as_os_str() != "-" {
                            eprintln!("wrote {bytes} bytes to {}", output.display());
                        }
                        exit::OK
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        e.exit_code()
                    }
                };
            }
            ObjectsCommand::Delete { id } => client
                .delete(&format!("/api/objects/{}", encode(&id)))
                .await
                .map(|answer| Answer::Deleted { id, answer }),
        };
        match result {
            Ok(answer) => {
                print_answer(&answer, json);
                exit::OK
            }
            Err(e) => {
                eprintln!("error: {e}");
                e.exit_code()
            }
        }
    })
}

/// What a command got, to print.
enum Answer {
    /// The runtime's answer: `{"result": ...}`, or a page with `--json`.
    Json(Value),
    /// An object's versions, oldest first.
    Versions(VersionsResponse),
    /// An object deleted: its id, and the runtime's answer (the builtin call's result).
    Deleted { id: String, answer: Value },
}

/// A page of a class's objects (its `next_after` told on stderr), as `{"result": [...]}`,
/// or the page as the runtime sent it with `--json`.
async fn list(
    client: &Client,
    class: &str,
    filters: &[String],
    limit: usize,
    after: Option<&str>,
    json: bool,
) -> Result<Value, ClientError> {
    let mut q = vec![format!("limit={limit}")];
    let filters = pairs(filters).map_err(ClientError::usage)?;
    q.extend(
        filters
            .into_iter()
            .map(|(k, v)| format!("{}={}", encode(&k), encode(&v))),
    );
    if let Some(a) = after {
        q.push(format!("after={}", encode(a)));
    }
    let page = client
        .get::<ObjectPage>(&format!(
            "/api/classes/{}/objects?{}",
            encode(class),
            q.join("&")
        ))
        .await?;
    if let (Some(next), false) = (&page.next_after, json) {
        eprintln!("more: --after {next}");
    }
    Ok(if json {
        serde_json::to_value(&page).unwrap_or(Value::Null)
    } else {
        serde_json::json!({"result": page.items})
    })
}

/// A new object of `class` with the `--set` fields (JSON, or plain strings).
async fn create(client: &Client, class: &str, fields: &[String]) -> Result<Value, ClientError> {
    let mut body = Map::new();
    for (k, v) in pairs(fields).map_err(ClientError::usage)? {
        body.insert(k, serde_json::from_str(&v).unwrap_or(Value::String(v)));
    }
    client
        .post::<Value>(
            &format!("/api/classes/{}/objects", encode(class)),
            &Value::Object(body),
        )
        .await
}

/// One file of one object version.
struct FileRef<'a> {
    id: &'a str,
    name: &'a str,
    version: Option<u64>,
}

/// Writes the file to `output` (`-`: standard output) and returns its size: the runtime is
/// asked for a signed URL, which is then read without the token (it may be a bucket's).
async fn download(
    client: &Client,
    file: &FileRef<'_>,
    output: &std::path::Path,
) -> Result<u64, ClientError> {
    let version = file
        .version
        .map(|v| format!("&version={v}"))
        .unwrap_or_default();
    let signed: SignedUrl = client
        .get(&format!(
            "/api/objects/{}/files/{}?signed=true{version}",
            encode(file.id),
            encode(file.name)
        ))
        .await?;
    let body = client.open(&signed.url).await?;
    if output.as_os_str() == "-" {
        let mut stdout = std::io::stdout().lock();
        let written = body.write_to(&mut stdout).await?;
        stdout
            .flush()
            .map_err(|e| ClientError::usage(format!("cannot write to stdout: {e}")))?;
        return Ok(written);
    }
    let cannot =
        |e: std::io::Error| ClientError::usage(format!("cannot write {}: {e}", output.display()));
    let mut sink = std::fs::File::create(output).map_err(cannot)?;
    let written = body.write_to(&mut sink).await;
    let flushed = written.and_then(|n| sink.flush().map(|()| n).map_err(cannot));
    if flushed.is_err() {
        // No half file left behind.
        let _ = std::fs::remove_file(output);
    }
    flushed
}

/// `?signed=true`'s answer.
#[derive(serde::Deserialize)]
struct SignedUrl {
    url: String,
}

/// The answer as JSON with `--json`, else for people.
fn print_answer(answer: &Answer, json: bool) {
    if json {
        let text = match answer {
            Answer::Json(v) => serde_json::to_string_pretty(v),
            Answer::Versions(v) => serde_json::to_string_pretty(v),
            Answer::Deleted { answer, .. } => serde_json::to_string_pretty(answer),
        };
        println!("{}", text.unwrap_or_default());
        return;
    }
    match answer {
        Answer::Deleted { id, .. } => println!("deleted {id}"),
        Answer::Versions(v) => {
            println!("{} versions", v.versions.len());
            for version in &v.versions {
                print!("{}", client::render_result(version));
            }
        }
        Answer::Json(v) => match &v["result"] {
            r if r.as_array().is_some_and(|a| a.is_empty()) => println!("no objects"),
            r => print!("{}", client::render_result(r)),
        },
    }
}
