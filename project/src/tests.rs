#![allow(clippy::unwrap_used)]

use super::*;

/// A fresh folder with the given files (`path`, `text`).
fn tree(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("oaas-project-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

/// The files found, relative to `dir`.
fn names(found: &Found, dir: &Path) -> Vec<String> {
    found
        .files
        .iter()
        .map(|f| {
            f.strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect()
}

const WORKSPACE: &[(&str, &str)] = &[
    (
        "oaas.toml",
        "[workspace]\nmembers = [\"apps/video\", \"lib\"]\n",
    ),
    ("apps/video/oaas.toml", "[package]\nname = \"video\"\n"),
    ("apps/video/video.oaas", "package video\n"),
    ("apps/video/more/parts.oaas", "package video\n"),
    (
        "apps/video/inner/oaas.toml",
        "[package]\nname = \"inner\"\n",
    ),
    ("apps/video/inner/inner.oaas", "package inner\n"),
    ("lib/oaas.toml", "[package]\nname = \"lib\"\n"),
    ("lib/lib.oaas", "package lib\n"),
    ("tests/fixtures/video.oaas", "package video\n"),
];

#[test]
fn a_workspace_is_its_members_and_a_folder_without_a_manifest_is_left_out() {
    let dir = tree("workspace", WORKSPACE);
    let found = find(std::slice::from_ref(&dir), usize::MAX).unwrap();
    assert!(found.errors.is_empty(), "{:?}", found.errors);
    assert_eq!(
        names(&found, &dir),
        [
            "apps/video/more/parts.oaas",
            "apps/video/video.oaas",
            "lib/lib.oaas"
        ]
    );
    assert_eq!(found.packages, [dir.join("apps/video"), dir.join("lib")]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_folder_given_explicitly_without_a_manifest_is_every_file_below_it() {
    let dir = tree("explicit", WORKSPACE);
    let found = find(&[dir.join("tests")], usize::MAX).unwrap();
    assert_eq!(names(&found, &dir), ["tests/fixtures/video.oaas"]);
    assert!(found.packages.is_empty());
    // A package folder given explicitly leaves its nested package out; a file is itself.
    let found = find(
        &[
            dir.join("apps/video"),
            dir.join("tests/fixtures/video.oaas"),
        ],
        usize::MAX,
    )
    .unwrap();
    assert_eq!(
        names(&found, &dir),
        [
            "apps/video/more/parts.oaas",
            "apps/video/video.oaas",
            "tests/fixtures/video.oaas"
        ]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_member_without_a_manifest_and_a_broken_manifest_are_errors_with_spans() {
    let dir = tree(
        "errors",
        &[
            (
                "oaas.toml",
                "[workspace]\nmembers = [\"gone\", \"bad\", \"ok\"]\n",
            ),
            ("bad/oaas.toml", "[package]\nname = 3\n"),
            ("bad/bad.oaas", "package bad\n"),
            ("ok/oaas.toml", "[package]\nname = \"ok\"\n"),
            ("ok/ok.oaas", "package ok\n"),
        ],
    );
    let found = find(std::slice::from_ref(&dir), usize::MAX).unwrap();
    assert_eq!(names(&found, &dir), ["ok/ok.oaas"]);
    let shown: Vec<(String, String, &str)> = found
        .errors
        .iter()
        .map(|e| {
            let at = e.text[e.diagnostic.primary.span.range()].to_string();
            let file = e
                .path
                .strip_prefix(&dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (file, at, e.diagnostic.code.as_str())
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("oaas.toml".to_string(), "\"gone\"".to_string(), "E0600"),
            ("bad/oaas.toml".to_string(), "3".to_string(), "E0600"),
        ]
    );
    assert!(find(&[dir.join("missing")], usize::MAX).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_package_root_of_a_file_is_its_nearest_package_manifest() {
    let dir = tree("roots", WORKSPACE);
    let root = |p: &str| package_root(&dir.join(p));
    assert_eq!(
        root("apps/video/more/parts.oaas"),
        Some(dir.join("apps/video"))
    );
    assert_eq!(
        root("apps/video/inner/inner.oaas"),
        Some(dir.join("apps/video/inner"))
    );
    // Below a workspace's own manifest there is no package.
    assert_eq!(root("tests/fixtures/video.oaas"), None);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn at_most_the_limit_of_files_is_found() {
    let dir = tree("limit", WORKSPACE);
    let found = find(&[dir.join("apps")], 2).unwrap();
    assert_eq!(found.files.len(), 2);
    assert!(found.truncated);
    std::fs::remove_dir_all(&dir).unwrap();
}
