//! `oaasc graph`: draw the invocation graph of one macro or all of them.

use crate::exit;
use clap::{Args, ValueEnum};
use oaas_compiler::graph::draw;
use std::path::PathBuf;

/// Draw macros as invocation graphs (dot, mermaid or JSON).
///
/// Calls are boxes, `for` fan-outs clusters, data edges solid, ordering edges (around `mut`
/// calls) dashed.
///
/// Examples:
///   oaasc graph examples/video Video.detect_faces --format dot | dot -Tsvg > g.svg
///   oaasc graph examples/video --format mermaid     # every macro
///   oaasc graph examples/text Text.chain --format json
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct GraphArgs {
    /// A package file or directory.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// `Class.macro` to draw; all macros when omitted.
    pub target: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
}

/// Drawing formats.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum GraphFormat {
    /// Graphviz dot.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
    /// The graph as in the package artifact.
    Json,
}

/// Runs the command and returns the exit code.
pub fn run(args: GraphArgs) -> u8 {
    let super::Built {
        build, artifact, ..
    } = match super::load_and_build(&args.path, "cannot draw graphs") {
        Ok(built) => built,
        Err(code) => return code,
    };
    let artifact = &artifact;
    let model = &build.analysis.model;
    let user_graphs: Vec<_> = build
        .graphs
        .iter()
        .filter(|g| model.package(model.class(g.class).package).name != "std")
        .collect();
    let selected: Vec<_> = match &args.target {
        None => user_graphs,
        Some(t) => {
            let found: Vec<_> = user_graphs
                .iter()
                .copied()
                .filter(|g| draw::title(model, g) == *t || qualified(model, g) == *t)
                .collect();
            if found.is_empty() {
                let known: Vec<String> =
                    user_graphs.iter().map(|g| draw::title(model, g)).collect();
                eprintln!(
                    "error: no macro `{t}`; the macros are: {}",
                    if known.is_empty() {
                        "(none)".into()
                    } else {
                        known.join(", ")
                    }
                );
                return exit::USAGE;
            }
            found
        }
    };
    for g in selected {
        match args.format {
            GraphFormat::Dot => print!("{}", draw::to_dot(model, g)),
            GraphFormat::Mermaid => print!("{}", draw::to_mermaid(model, g)),
            GraphFormat::Json => {
                let class = artifact.class(&model.qualified_name(g.class));
                let m = class.and_then(|c| c.macro_named(&model.member(g.member).name));
                let json = m
                    .map(|m| serde_json::to_string_pretty(&m.graph).unwrap_or_default())
                    .unwrap_or_default();
                println!("{json}");
            }
        }
    }
    exit::OK
}

fn qualified(
    model: &oaas_compiler::check::model::Model,
    g: &oaas_compiler::graph::InvocationGraph,
) -> String {
    format!(
        "{}.{}",
        model.qualified_name(g.class),
        model.member(g.member).name
    )
}
