//! `oaas.toml`, the manifest that marks a package's root, or a workspace's that lists its
//! member packages (or both, as Cargo's `Cargo.toml`). Parsing only: text in, a
//! [`Manifest`] or an `E0600` diagnostic out; finding manifests on disk is the callers' job
//! (crate `oaas-project`).
//!
//! ```toml
//! [package]
//! name = "video"
//! version = "0.1.0"
//! description = "Videos: split, transcode, find faces"
//!
//! [workspace]
//! members = ["examples/video", "stdlib"]
//! ```

use crate::diagnostic::{Code, Diagnostic};
use crate::span::{FileId, Span};
use serde::Deserialize;
use toml::Spanned;

/// The file name of a manifest.
pub const FILE_NAME: &str = "oaas.toml";

/// A parsed manifest: a package, a workspace, or both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// `[package]`: the folder is a package's root.
    pub package: Option<Package>,
    /// `[workspace]`: the folder lists member packages.
    pub workspace: Option<WorkspaceSection>,
}

/// The `[package]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    /// The package's name, as its files declare it (`package video`).
    pub name: String,
    /// Its version, `MAJOR.MINOR.PATCH` (default `0.1.0`).
    pub version: String,
    /// One line for people.
    pub description: Option<String>,
}

/// The `[workspace]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkspaceSection {
    /// Member package folders, relative to the manifest's folder, with where each is written.
    pub members: Vec<(String, Span)>,
}

impl Manifest {
    /// Whether the manifest's folder is a package's root.
    pub fn is_package(&self) -> bool {
        self.package.is_some()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    package: Option<Spanned<RawPackage>>,
    workspace: Option<RawWorkspace>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPackage {
    name: Spanned<String>,
    version: Option<Spanned<String>>,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkspace {
    members: Vec<Spanned<String>>,
}

/// Parses the text of `file`, an `oaas.toml`. Any problem (TOML syntax, an unknown key, a
/// missing or malformed name or version, neither table) is one `E0600` diagnostic.
pub fn parse(file: FileId, text: &str) -> Result<Manifest, Box<Diagnostic>> {
    let raw: RawManifest = toml::from_str(text).map_err(|e| {
        let span = e
            .span()
            .map(|r| Span::new(r.start, r.end))
            .unwrap_or_default();
        let message = e.message().trim().to_string();
        Box::new(error(file, span, format!("`{FILE_NAME}`: {message}")))
    })?;
    if raw.package.is_none() && raw.workspace.is_none() {
        return Err(Box::new(
            error(
                file,
                Span::default(),
                format!("`{FILE_NAME}` has neither a `[package]` nor a `[workspace]` table"),
            )
            .help("a package's manifest starts with `[package]` and `name = \"...\"`"),
        ));
    }
    let package = raw
        .package
        .map(|p| package(file, p.into_inner()))
        .transpose()?;
    let workspace = raw.workspace.map(|w| workspace(file, w)).transpose()?;
    Ok(Manifest { package, workspace })
}

fn package(file: FileId, raw: RawPackage) -> Result<Package, Box<Diagnostic>> {
    let name_span = span_of(&raw.name);
    let name = raw.name.into_inner();
    if !is_word(&name) {
        return Err(Box::new(error(
            file,
            name_span,
            format!("`{name}` is not a package name"),
        )
        .help("a package name is a letter or `_` followed by letters, digits and `_`, as in `package video`")));
    }
    let version = match raw.version {
        None => "0.1.0".to_string(),
        Some(v) => {
            let span = span_of(&v);
            let v = v.into_inner();
            if !is_version(&v) {
                return Err(Box::new(
                    error(file, span, format!("`{v}` is not a version"))
                        .help("write three numbers, `MAJOR.MINOR.PATCH`, as in `0.1.0`"),
                ));
            }
            v
        }
    };
    Ok(Package {
        name,
        version,
        description: raw.description,
    })
}

fn workspace(file: FileId, raw: RawWorkspace) -> Result<WorkspaceSection, Box<Diagnostic>> {
    let mut members = Vec::new();
    for m in raw.members {
        let span = span_of(&m);
        let path = m.into_inner();
        let bad = path.trim().is_empty()
            || path.starts_with('/')
            || path.contains('\\')
            || path.split('/').any(|s| s == "..");
        if bad {
            return Err(Box::new(error(
                file,
                span,
                format!("`{path}` is not a member folder"),
            )
            .help("name a folder below the workspace's, with `/` between names, as in `examples/video`")));
        }
        if members.iter().any(|(p, _)| p == &path) {
            return Err(Box::new(error(
                file,
                span,
                format!("`{path}` is listed twice"),
            )));
        }
        members.push((path, span));
    }
    Ok(WorkspaceSection { members })
}

fn error(file: FileId, span: Span, message: String) -> Diagnostic {
    Diagnostic::new(Code::E0600, file, span, message)
}

fn span_of<T>(s: &Spanned<T>) -> Span {
    let r = s.span();
    Span::new(r.start, r.end)
}

/// Whether `s` can name a package: a letter or `_`, then letters, digits and `_`.
pub fn is_word(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_version(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Manifest {
        match parse(FileId(0), text) {
            Ok(m) => m,
            Err(d) => panic!("{}", d.message),
        }
    }

    /// The message and the text under the primary span.
    fn err(text: &str) -> (String, String) {
        match parse(FileId(0), text) {
            Ok(m) => panic!("parsed: {m:?}"),
            Err(d) => {
                assert_eq!(d.code, Code::E0600);
                (d.message, text[d.primary.span.range()].to_string())
            }
        }
    }

    #[test]
    fn a_package_with_every_key() {
        let m = ok("[package]\nname = \"video\"\nversion = \"1.2.3\"\ndescription = \"Videos\"\n");
        assert_eq!(
            m.package,
            Some(Package {
                name: "video".into(),
                version: "1.2.3".into(),
                description: Some("Videos".into()),
            })
        );
        assert_eq!(m.workspace, None);
        assert!(m.is_package());
    }

    #[test]
    fn the_version_defaults_and_a_workspace_alone_is_no_package() {
        let m = ok("[package]\nname = \"a\"\n");
        assert_eq!(m.package.map(|p| p.version).as_deref(), Some("0.1.0"));
        let text = "[workspace]\nmembers = [\"examples/video\", \"stdlib\"]\n";
        let m = ok(text);
        assert!(!m.is_package());
        let members = m.workspace.map(|w| w.members).unwrap_or_default();
        let names: Vec<&str> = members.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(names, ["examples/video", "stdlib"]);
        assert_eq!(&text[members[1].1.range()], "\"stdlib\"");
    }

    #[test]
    fn problems_point_at_what_is_wrong() {
        let (msg, at) = err("[package]\nname = \"video\"\nversoin = \"1\"\n");
        assert!(msg.contains("unknown field `versoin`"), "{msg}");
        assert_eq!(at, "versoin");
        let (msg, at) = err("[package]\nname = \"my-pkg\"\n");
        assert_eq!(msg, "`my-pkg` is not a package name");
        assert_eq!(at, "\"my-pkg\"");
        let (msg, at) = err("[package]\nname = \"a\"\nversion = \"1.0\"\n");
        assert_eq!(msg, "`1.0` is not a version");
        assert_eq!(at, "\"1.0\"");
        let (msg, _) = err("[package]\nversion = \"1.0.0\"\n");
        assert!(msg.contains("missing field `name`"), "{msg}");
        let (msg, _) = err("[package\nname = \"a\"\n");
        assert!(msg.starts_with("`oaas.toml`: "), "{msg}");
        let (msg, _) = err("# nothing\n");
        assert!(msg.contains("neither"), "{msg}");
    }

    #[test]
    fn members_stay_below_the_workspace_and_are_listed_once() {
        let (msg, at) = err("[workspace]\nmembers = [\"../other\"]\n");
        assert_eq!(msg, "`../other` is not a member folder");
        assert_eq!(at, "\"../other\"");
        let (msg, _) = err("[workspace]\nmembers = [\"/abs\"]\n");
        assert_eq!(msg, "`/abs` is not a member folder");
        let (msg, _) = err("[workspace]\nmembers = [\"a\", \"a\"]\n");
        assert_eq!(msg, "`a` is listed twice");
    }
}
