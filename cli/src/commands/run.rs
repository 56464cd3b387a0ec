//! `oaasc run`: run a function or macro end to end, on an embedded runtime (default) or on a
//! cluster.

use super::invocations::{until_finished, NodeBar};
use crate::client::{self, Client};
use crate::{exit, report};
use clap::{Args, ValueEnum};
use oaas_compiler::artifact::{Artifact, ClassArtifact};
use oaas_compiler::syntax::{parse_access_expr, AccessTarget};
use oaas_runtime::api::types::{AcceptedResponse, CallResponse, DeployResponse};
use oaas_runtime::ids::{InvocationId, TaskId};
use oaas_runtime::store::{InvocationStatus, NodeRecord};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Run a function or macro end to end, on an embedded runtime or a cluster.
///
/// Checks and builds the package, starts an embedded runtime (or uses --cluster), starts the
/// package's @local containers, deploys, calls, shows each macro node's progress live, and
/// prints the result.
///
/// TARGET is one of:
///   Class.fn           a static function, `new`, or (with --new) a function of a new object
///   OBJECT_ID:fn       a function or macro of an existing object
///   an object access expression, such as 'vid42:transcode(height=720)' or
///   'video.Video.new(title="clip")'
///
/// Examples:
///   oaasc run examples/record Record.new --arg count=1
///   oaasc run examples/text Text.chain --file body=hello.txt --arg first=' a' --arg second=' b'
///   oaasc run examples/video Video.detect_faces --new title=clip --file src=clip.mp4 --arg every_s=1
///   oaasc run examples/record 'RECORD_ID:increment(by=2)' --data .oaas
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct RunArgs {
    /// The package: a directory or file.
    pub path: PathBuf,
    /// What to call.
    pub target: String,
    /// An argument, `name=value`, read by the parameter's declared type (repeatable).
    #[arg(long = "arg", value_name = "NAME=VALUE")]
    pub args: Vec<String>,
    /// A state field of the object to create first, `field=value` (repeatable); used when
    /// TARGET is `Class.fn` of an object function.
    #[arg(long = "new", value_name = "FIELD=VALUE")]
    pub new: Vec<String>,
    /// A file of the object to create first, `name=path` (repeatable).
    #[arg(long = "file", value_name = "NAME=PATH")]
    pub files: Vec<String>,
    /// Data folder of the embedded runtime.
    #[arg(long, default_value = ".oaas")]
    pub data: PathBuf,
    /// Use the runtime at this URL (`oaasc serve`) instead of an embedded one.
    #[arg(long)]
    pub cluster: Option<String>,
    /// With --cluster: the API token (default: $OAAS_TOKEN, else `.oaas/token` of an
    /// `oaasc serve` run from the same directory). The embedded runtime needs none.
    #[arg(long, env = "OAAS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// How to print the result.
    #[arg(long, value_enum, default_value_t = Output::Human)]
    pub output: Output,
    /// Call `@memo` functions again even when a recorded result would answer (sends
    /// `Cache-Control: no-cache`); the new results are recorded for later runs.
    #[arg(long)]
    pub fresh: bool,
}

/// Result formats.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Output {
    /// Objects with id, class, version and state; values as JSON.
    Human,
    /// The runtime's JSON answer, for scripts.
    Json,
}

/// Runs the command and returns the exit code.
pub fn run(args: RunArgs) -> u8 {
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
    rt.block_on(run_async(args))
}

/// What the target resolved to.
#[derive(Default)]
struct Call {
    class: String,
    function: String,
    /// `Some(id)` for a call on an existing object.
    object: Option<String>,
    args: Map<String, Value>,
    /// Create an object first (object function given as `Class.fn`).
    create_first: bool,
    /// The state of the object to create (`--new`), read by its fields' types.
    new_state: Map<String, Value>,
    /// Its files (`--file name=path`): names checked against the class, paths readable.
    files: Vec<(String, PathBuf)>,
}

fn package_dir(path: &Path) -> PathBuf {
    let dir = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

async fn run_async(args: RunArgs) -> u8 {
    let super::Built {
        workspace,
        artifact,
        ..
    } = match super::load_and_build(&args.path, "not run") {
        Ok(built) => built,
        Err(code) => return code,
    };
    let call = match resolve_target(&artifact, &args) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("error: {msg}");
            return exit::USAGE;
        }
    };
    // The runtime: embedded unless --cluster.
    let (client, embedded) = match &args.cluster {
        Some(url) => (Client::new(url, args.token.clone()), None),
        None => {
            // The embedded runtime runs the package's own @local commands: the package is
            // the user's, given on this command line, not a request from elsewhere.
            let config = oaas_runtime::Config {
                allow_local: true,
                ..oaas_runtime::Config::new(
                    args.data.clone(),
                    ([127, 0, 0, 1], 0).into(),
                    package_dir(&args.path),
                )
            };
            match oaas_runtime::start(config).await {
                Ok(r) => (Client::new(&r.url(), Some(r.token.clone())), Some(r)),
                Err(e) => {
                    eprintln!("error: cannot start the embedded runtime: {e}");
                    return exit::USAGE;
                }
            }
        }
    };
    let client = client.fresh_calls(args.fresh);
    let code = match execute(&client, &workspace, &artifact, call, &args).await {
        Ok(result) => {
            match args.output {
                Output::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&result).unwrap_or_default()
                ),
                Output::Human => print!("{}", client::render_result(&result.result)),
            }
            exit::OK
        }
        Err(e) => {
            let failures = e.failures();
            if !failures.is_empty() {
                eprint!(
                    "{}",
                    report::runtime_failures(&workspace.sources, &failures)
                );
            }
            eprint!("{}", report::partial_outputs(&e.partial_outputs()));
            // The embedded runtime is no server to the user: its errors need no HTTP status.
            match embedded {
                Some(_) => eprintln!("error: {}", e.message),
                None => eprintln!("error: {e}"),
            }
            if args.output == Output::Json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({"error": e.body})).unwrap_or_default()
                );
            }
            e.exit_code()
        }
    };
    if let Some(r) = embedded {
        r.stop().await;
    }
    code
}

/// The call `oaasc run` makes: the target read, its class and function found, its
/// arguments parsed by their declared types, the object to create first when an object
/// function is named on its class.
fn resolve_target(artifact: &Artifact, args: &RunArgs) -> Result<Call, String> {
    let mut call = parse_target(args.target.trim())?;
    if let Some(class) = call
        .object
        .as_deref()
        .and_then(|id| artifact.find_class(id))
    {
        return Err(class_as_object(args.target.trim(), &class.qualified));
    }
    if call.object.is_none() {
        resolve_on_class(artifact, args, &mut call)?;
    } else if !args.args.is_empty() {
        // The object's class is not known before asking the runtime: take JSON or plain strings.
        for pair in &args.args {
            let (k, v) = client::split_pair(pair)?;
            call.args
                .insert(k, serde_json::from_str(&v).unwrap_or(Value::String(v)));
        }
    }
    check_before_running(artifact, args, &mut call)?;
    Ok(call)
}

/// A target as written: `Class.fn`, or an object access expression (`OBJECT_ID:fn(...)`,
/// `pkg.Class.fn(...)`) with its arguments.
fn parse_target(t: &str) -> Result<Call, String> {
    if !(t.contains(':') || t.contains('(')) {
        let (cls, func) = t.rsplit_once('.').ok_or_else(|| format!("`{t}` is not a target: write `Class.fn`, `OBJECT_ID:fn` or an object access expression"))?;
        return Ok(Call {
            class: cls.to_string(),
            function: func.to_string(),
            ..Call::default()
        });
    }
    let parsed = parse_access_expr(t)
        .map_err(|d| format!("`{t}` is not a target: {}{}", d.message, class_call_hint(t)))?;
    if parsed.file.is_some() {
        return Err(
            "`/file` is for the runtime's /oal/ path; `oaasc run` prints the result object instead"
                .into(),
        );
    }
    let target = &parsed.target;
    Ok(Call {
        class: target.class().unwrap_or_default(),
        function: target.function().name.clone(),
        object: match target {
            AccessTarget::Object { id, .. } => Some(id.clone()),
            AccessTarget::Static { .. } => None,
        },
        args: oaas_runtime::oal::args_to_json(target.args())?,
        ..Call::default()
    })
}

/// The hint for a class's function written like an object's (`pkg.Class:fn(...)`, which
/// does not parse): the same call with a `.`, when that parses.
fn class_call_hint(t: &str) -> String {
    match t.split_once(':') {
        Some((class, rest)) if class.contains('.') => {
            let fixed = format!("{class}.{rest}");
            match parse_access_expr(&fixed) {
                Ok(_) => format!(" (a class's function is called as `{fixed}`; `OBJECT_ID:fn(...)` calls an object's)"),
                Err(_) => String::new(),
            }
        }
        _ => String::new(),
    }
}

/// The error for an object call whose object id is a class's name (`Record:fn(...)`).
fn class_as_object(t: &str, class: &str) -> String {
    let (name, call) = t.split_once(':').unwrap_or((t, ""));
    format!(
        "`{t}` calls an object, but `{name}` is the class `{class}`: write `{name}.{call}` to call the class's function (on a new object, for an object function), or `OBJECT_ID:{call}` for an object"
    )
}

/// A call named on its class: the class and member found (or the names there are), an
/// object function marked to create its object first (which needs `--new` when the class
/// has required state), `--arg`s parsed by the parameters' types.
fn resolve_on_class(artifact: &Artifact, args: &RunArgs, call: &mut Call) -> Result<(), String> {
    let class = artifact.find_class(&call.class).ok_or_else(|| {
        let names: Vec<String> = artifact
            .packages
            .iter()
            .flat_map(|p| p.classes.iter().map(|c| c.qualified.clone()))
            .collect();
        let near = oaas_compiler::check::suggest::did_you_mean(artifact.closest_class(&call.class));
        format!(
            "there is no class `{}`{near}; the package has {}",
            call.class,
            names.join(", ")
        )
    })?;
    call.class = class.qualified.clone();
    call.create_first = !is_static(class, &call.function)?;
    let required: Vec<&str> = class
        .state
        .iter()
        .filter(|s| {
            s.default.is_none() && !matches!(s.ty, oaas_compiler::artifact::TypeRef::Optional(_))
        })
        .map(|s| s.name.as_str())
        .collect();
    if call.create_first && args.new.is_empty() && args.files.is_empty() && !required.is_empty() {
        return Err(format!(
            "`{}.{}` is called on an object: give the new object's state with --new (required: {})",
            class.name,
            call.function,
            required.join(", ")
        ));
    }
    if let Some(params) = client::params_of(artifact, &call.class, &call.function) {
        let parsed = client::parse_args(
            &args.args,
            &params,
            &format!("`{}.{}`", class.name, call.function),
        )
        .map_err(|e| match call.create_first {
            true => with_state_hint(e, class, &args.args),
            false => e,
        })?;
        call.args.extend(parsed);
    }
    Ok(())
}

/// Whether the class's function or macro `name` is static; an error naming its members
/// when it has none of that name.
fn is_static(class: &ClassArtifact, name: &str) -> Result<bool, String> {
    match (class.function(name), class.macro_named(name)) {
        (Some(f), _) => Ok(f.is_static),
        (None, Some(m)) => Ok(m.is_static),
        (None, None) => Err(format!(
            "class `{}` has no function `{name}`{}; it has {}",
            class.name,
            class.did_you_mean(name),
            class.callable_names().join(", ")
        )),
    }
}

/// A refused `--arg` of a function called on a new object: when it names a state field of
/// the class, the message says that the new object's state goes in `--new`.
fn with_state_hint(
    message: String,
    class: &oaas_compiler::artifact::ClassArtifact,
    pairs: &[String],
) -> String {
    let fields: Vec<&str> = pairs
        .iter()
        .filter_map(|p| p.split_once('=').map(|(k, _)| k))
        .filter(|k| class.state.iter().any(|s| s.name == *k))
        .collect();
    match fields.first() {
        Some(f) => format!(
            "{message}; `{f}` is a state field of `{}`: give the new object's state with --new {f}=VALUE",
            class.name
        ),
        None => message,
    }
}

/// Checks everything the command line says against the package before anything is
/// deployed, created or run: the call's arguments (names, types, required ones), the new
/// object's state and its files.
fn check_before_running(
    artifact: &Artifact,
    args: &RunArgs,
    call: &mut Call,
) -> Result<(), String> {
    let Some(class) = artifact
        .find_class(&call.class)
        .filter(|_| call.object.is_none())
    else {
        return Ok(());
    };
    let makes_object = call.create_first
        || (call.function == "new" && (!args.new.is_empty() || !args.files.is_empty()));
    if makes_object {
        let params = client::params_of(artifact, &class.qualified, "new").unwrap_or_default();
        let what = format!("`{}.new`", class.name);
        // On `new` itself, `--arg` sets state fields just as `--new` does.
        let fields: Vec<String> = if call.function == "new" {
            args.new.iter().chain(&args.args).cloned().collect()
        } else {
            args.new.clone()
        };
        let state = client::parse_args(&fields, &params, &what)?;
        oaas_runtime::values::bind_args(
            artifact,
            || what.clone(),
            &params,
            &Value::Object(state.clone()),
        )
        .map_err(|e| format!("{e} (give the new object's state with --new FIELD=VALUE)"))?;
        call.new_state = state;
        for pair in &args.files {
            let (name, path) = client::split_pair(pair)?;
            if !class.files.iter().any(|f| f.name == name) {
                let names: Vec<&str> = class.files.iter().map(|f| f.name.as_str()).collect();
                return Err(format!(
                    "class `{}` has no file `{name}`; it has {}",
                    class.name,
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ));
            }
            std::fs::metadata(&path)
                .map_err(|e| format!("cannot read `{path}` for --file {name}: {e}"))?;
            call.files.push((name, PathBuf::from(path)));
        }
    }
    if call.function != "new" || !makes_object {
        if let Some(params) = client::params_of(artifact, &class.qualified, &call.function) {
            let what = format!("`{}.{}`", class.name, call.function);
            oaas_runtime::values::bind_args(
                artifact,
                || what.clone(),
                &params,
                &Value::Object(call.args.clone()),
            )?;
        }
    }
    Ok(())
}

/// What `oaasc run` prints with `--output json`: the call's answer, and a macro's nodes.
#[derive(Serialize)]
struct Finished {
    #[serde(skip_serializing_if = "Option::is_none")]
    invocation_id: Option<InvocationId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    task_id: Option<TaskId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<InvocationStatus>,
    result: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    nodes: Option<BTreeMap<String, NodeRecord>>,
}

impl From<CallResponse> for Finished {
    fn from(r: CallResponse) -> Finished {
        Finished {
            invocation_id: Some(r.invocation_id),
            task_id: Some(r.task_id),
            status: Some(r.status),
            result: r.result,
            nodes: None,
        }
    }
}

async fn execute(
    client: &Client,
    workspace: &oaas_compiler::Workspace,
    artifact: &Artifact,
    call: Call,
    args: &RunArgs,
) -> Result<Finished, client::ClientError> {
    let body = client::sources_body(workspace, &package_dir(&args.path));
    let deployed: DeployResponse = client.post("/api/packages", &body).await?;
    eprintln!(
        "deployed {:?} ({})",
        deployed.packages,
        deployed.version.get(..19).unwrap_or("")
    );
    let object = match (&call.object, call.create_first) {
        (Some(id), _) => Some(id.clone()),
        (None, true) => Some(create_object(client, &call).await?),
        (None, false) => None,
    };
    let is_new = call.function == "new" && object.is_none();
    if is_new && (!args.new.is_empty() || !args.files.is_empty()) {
        let id = create_object(client, &call).await?;
        let view: Value = client.get(&format!("/api/objects/{id}")).await?;
        return Ok(Finished {
            invocation_id: None,
            task_id: None,
            status: None,
            result: view,
            nodes: None,
        });
    }
    let class_name = match (&object, &call.object) {
        (Some(id), Some(_)) => {
            let view: ObjectView = client.get(&format!("/api/objects/{id}")).await?;
            view.class
        }
        _ => call.class.clone(),
    };
    let is_macro = artifact
        .find_class(&class_name)
        .is_some_and(|c| c.macro_named(&call.function).is_some());
    let path = match &object {
        Some(id) => format!("/api/objects/{id}/invoke/{}", call.function),
        None => format!("/api/classes/{class_name}/invoke/{}", call.function),
    };
    let body = Value::Object(call.args.clone());
    if !is_macro {
        let done: CallResponse = client.post(&path, &body).await?;
        return Ok(done.into());
    }
    // Macros: run asynchronously and show each node's progress until it finishes.
    let accepted: AcceptedResponse = client.post(&format!("{path}?async=true"), &body).await?;
    follow(client, &accepted.invocation_id).await
}

/// The class of an object, as its view names it.
#[derive(Deserialize)]
struct ObjectView {
    class: String,
}

/// Follows a macro's invocation to its end, with a progress bar of its nodes.
async fn follow(client: &Client, id: &InvocationId) -> Result<Finished, client::ClientError> {
    let bar = NodeBar::new();
    let waited = until_finished(client, id.as_str(), |inv| bar.show(inv)).await;
    bar.clear();
    let inv = waited?;
    if inv.status == InvocationStatus::Failed {
        let message = inv
            .error
            .as_ref()
            .map(|e| e.message.clone())
            .unwrap_or_else(|| "the macro failed".into());
        let status = inv.error.as_ref().and_then(|e| e.status).unwrap_or(502);
        return Err(client::ClientError::answered(status, message, inv.error));
    }
    eprintln!("{}", nodes_done(&inv.nodes));
    Ok(Finished {
        invocation_id: Some(inv.invocation_id),
        task_id: None,
        status: Some(inv.status),
        result: inv.result.unwrap_or(Value::Null),
        nodes: Some(inv.nodes),
    })
}

/// The line after a macro's run: its nodes, and how many a recorded result answered.
fn nodes_done(nodes: &BTreeMap<String, NodeRecord>) -> String {
    let reused: Vec<&str> = nodes
        .values()
        .filter(|n| n.reused)
        .map(|n| n.label.as_str())
        .collect();
    match reused.len() {
        0 => format!("{} nodes done", nodes.len()),
        n => format!(
            "{} nodes done; {n} calls reused earlier results (`@memo`; --fresh runs them again): {}",
            nodes.len(),
            summarize(&reused)
        ),
    }
}

/// Up to three labels, then how many more.
fn summarize(labels: &[&str]) -> String {
    let mut shown: Vec<String> = Vec::new();
    for l in labels {
        if !shown.iter().any(|s| s == l) {
            shown.push(l.to_string());
        }
    }
    let total = shown.len();
    shown.truncate(3);
    let mut text = shown.join(", ");
    if total > 3 {
        text.push_str(&format!(" and {} more", total - 3));
    }
    text
}

/// What `POST /api/classes/{cls}/objects` answers: the new object's view with its upload URLs.
#[derive(Deserialize)]
struct Created {
    result: CreatedObject,
}

#[derive(Deserialize)]
struct CreatedObject {
    id: String,
    #[serde(default)]
    upload: BTreeMap<String, String>,
}

/// Creates an object from `--new` fields and uploads `--file`s (both checked before); returns
/// its id.
async fn create_object(client: &Client, call: &Call) -> Result<String, client::ClientError> {
    let usage = client::ClientError::usage;
    let class = &call.class;
    let created: Created = client
        .post(
            &format!("/api/classes/{class}/objects"),
            &Value::Object(call.new_state.clone()),
        )
        .await?;
    let id = created.result.id;
    for (name, path) in &call.files {
        let url = created.result.upload.get(name).ok_or_else(|| {
            usage(format!(
                "the runtime gave no upload URL for file `{name}` (is it public?)"
            ))
        })?;
        let bytes = std::fs::read(path)
            .map_err(|e| usage(format!("cannot read `{}`: {e}", path.display())))?;
        client.put_bytes(url, bytes).await?;
    }
    eprintln!("created {class} {id}");
    Ok(id)
}
