//! The package version is a hash of content only: the same sources built from different
//! directories get the same artifact, with file names relative to the package's directory.
#![allow(clippy::unwrap_used)]

use oaas_compiler::artifact::Artifact;
use oaas_compiler::Workspace;

const RECORD: &str = "package rec\n\nrecord Point { x: int, y: int }\n";
const CLASS: &str = "package rec\n\n@local(\"python3 f.py\")\nclass Shape {\n  public state origin: Point\n  fn area() -> float\n}\n";

/// Builds the two files of a package under `dir` and returns its artifact.
fn built_under(dir: &str) -> Artifact {
    let mut workspace = Workspace::new();
    workspace.add_file(format!("{dir}point.oaas"), RECORD);
    workspace.add_file(format!("{dir}shapes/shape.oaas"), CLASS);
    let build = workspace.build();
    assert!(!build.has_errors(), "{:#?}", build.diagnostics);
    build.artifact.unwrap()
}

#[test]
fn the_version_does_not_depend_on_the_build_directory() {
    let near = built_under("examples/record/");
    let far = built_under("oaas/examples/record/");
    let absolute = built_under("/home/ana/oaas/examples/record/");
    let here = built_under("");
    assert_eq!(near.version, far.version);
    assert_eq!(near.version, absolute.version);
    assert_eq!(near.version, here.version);
    let paths: Vec<&str> = near.sources.iter().map(|s| s.path.as_str()).collect();
    insta::assert_debug_snapshot!(paths, @r#"
    [
        "point.oaas",
        "shapes/shape.oaas",
    ]
    "#);
}

#[test]
fn a_one_file_package_is_named_by_its_file_name() {
    let mut workspace = Workspace::new();
    workspace.add_file("some/dir/point.oaas", RECORD);
    let artifact = workspace.build().artifact.unwrap();
    assert_eq!(artifact.sources[0].path, "point.oaas");
}

#[test]
fn directories_with_a_common_prefix_are_not_cut_inside_a_name() {
    let mut workspace = Workspace::new();
    workspace.add_file("pkg/née/a.oaas", RECORD);
    workspace.add_file("pkg/nées/b.oaas", "package rec\n\nrecord Q { x: int }\n");
    let artifact = workspace.build().artifact.unwrap();
    let paths: Vec<&str> = artifact.sources.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["née/a.oaas", "nées/b.oaas"]);
}
