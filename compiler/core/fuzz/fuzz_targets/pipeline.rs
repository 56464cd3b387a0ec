//! Any UTF-8 text through the rest of the pipeline: the formatter (idempotent, the same tree,
//! never its internal error) and, for a file that checks, the graphs, their drawing and the
//! artifact (which must read back as it was written).
#![no_main]

use libfuzzer_sys::fuzz_target;
use oaas_compiler::artifact::Artifact;
use oaas_compiler::format::{format, shape, FormatError};
use oaas_compiler::graph::draw::to_dot;
use oaas_compiler::syntax::parse;
use oaas_compiler::{FileId, Workspace};

fuzz_target!(|text: &str| {
    match format(text) {
        Ok(out) => {
            let again = format(&out).expect("formatted text formats again");
            assert_eq!(again, out, "the formatter is not idempotent");
            let before = parse(FileId(0), text);
            let after = parse(FileId(0), &out);
            assert!(
                !after.diagnostics.iter().any(|d| d.is_error()),
                "formatted text has errors"
            );
            assert_eq!(shape(&after.ast), shape(&before.ast), "formatting changed the tree");
        }
        Err(FormatError::Syntax(_)) => {}
        Err(e @ FormatError::Internal(_)) => panic!("{e}"),
    }

    let mut workspace = Workspace::new();
    workspace.add_file("fuzz.oaas", text);
    let build = workspace.build();
    for graph in &build.graphs {
        let _ = to_dot(&build.analysis.model, graph);
    }
    if let Some(artifact) = build.artifact {
        let json = artifact.to_json();
        let back = Artifact::from_json(&json).expect("the artifact reads back");
        assert_eq!(back, artifact, "the artifact changed through JSON");
    }
});
