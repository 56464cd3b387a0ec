//! Deployed packages, held in memory: package and class metadata is read on every call. A
//! package version is immutable; deploying a new version makes it the one new calls use,
//! while objects keep the version they were created under.

use oaas_compiler::artifact::{Artifact, ClassArtifact};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// All deployed package versions and which is current per package name.
#[derive(Default)]
pub struct Registry {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    versions: HashMap<String, Arc<Artifact>>,
    /// Package name -> current version.
    current: HashMap<String, String>,
    /// Version -> the folder its `@local` commands run in, where its deploy named one.
    workdirs: HashMap<String, PathBuf>,
}

impl Registry {
    /// Adds a version and makes it current for the packages it holds.
    pub fn insert(&self, artifact: Arc<Artifact>, workdir: Option<PathBuf>) {
        if let Ok(mut inner) = self.inner.write() {
            if let Some(dir) = workdir {
                inner.workdirs.insert(artifact.version.clone(), dir);
            }
            for p in &artifact.packages {
                inner
                    .current
                    .insert(p.name.clone(), artifact.version.clone());
            }
            inner.versions.insert(artifact.version.clone(), artifact);
        }
    }

    /// The folder a version's `@local` commands run in, if its deploy named one.
    pub fn workdir(&self, version: &str) -> Option<PathBuf> {
        self.inner.read().ok()?.workdirs.get(version).cloned()
    }

    /// A version by hash.
    pub fn version(&self, version: &str) -> Option<Arc<Artifact>> {
        self.inner.read().ok()?.versions.get(version).cloned()
    }

    /// The current version holding a package.
    pub fn current(&self, package: &str) -> Option<Arc<Artifact>> {
        let inner = self.inner.read().ok()?;
        let v = inner.current.get(package)?;
        inner.versions.get(v).cloned()
    }

    /// The qualified name of a class in the current versions whose name is a likely typo of
    /// `name` (see [`Artifact::closest_class`]), for the message that says there is no `name`.
    pub fn closest_class(&self, name: &str) -> Option<String> {
        let inner = self.inner.read().ok()?;
        let qualified = name.contains('.');
        // Each package's closest, then the closest of those.
        let found: Vec<(&str, &str)> = inner
            .current
            .values()
            .filter_map(|v| inner.versions.get(v)?.closest_class(name))
            .map(|q| {
                (
                    if qualified {
                        q
                    } else {
                        q.rsplit('.').next().unwrap_or(q)
                    },
                    q,
                )
            })
            .collect();
        let near = oaas_compiler::check::suggest::closest(name, found.iter().map(|(l, _)| *l))?;
        found
            .iter()
            .find(|(l, _)| *l == near)
            .map(|(_, q)| q.to_string())
    }

    /// Finds a class (`video.Video`, or `Video` when only one package has it) in the
    /// current versions; returns the artifact with the class's qualified name.
    pub fn class(&self, name: &str) -> Option<(Arc<Artifact>, String)> {
        let inner = self.inner.read().ok()?;
        let mut found = Vec::new();
        for version in inner.current.values() {
            if let Some(a) = inner.versions.get(version) {
                if let Some(c) = a.find_class(name) {
                    found.push((a.clone(), c.qualified.clone()));
                }
            }
        }
        found.sort_by(|a, b| a.1.cmp(&b.1));
        found.dedup_by(|a, b| a.1 == b.1);
        if found.len() == 1 {
            found.pop()
        } else {
            None
        }
    }

    /// Names of current packages with their versions.
    pub fn list(&self) -> Vec<(String, String)> {
        let Ok(inner) = self.inner.read() else {
            return Vec::new();
        };
        let mut out: Vec<(String, String)> = inner
            .current
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.sort();
        out
    }
}

/// A class of a deployed artifact, shared rather than copied: calls look classes up on every
/// request, and a class holds its functions, macros and graphs.
#[derive(Clone)]
pub struct ClassHandle {
    artifact: Arc<Artifact>,
    package: usize,
    index: usize,
}

impl ClassHandle {
    /// The class `qualified` of an artifact.
    pub fn find(artifact: &Arc<Artifact>, qualified: &str) -> Option<ClassHandle> {
        artifact.packages.iter().enumerate().find_map(|(p, pkg)| {
            pkg.classes
                .iter()
                .position(|c| c.qualified == qualified)
                .map(|index| ClassHandle {
                    artifact: artifact.clone(),
                    package: p,
                    index,
                })
        })
    }
}

impl std::ops::Deref for ClassHandle {
    type Target = ClassArtifact;

    fn deref(&self) -> &ClassArtifact {
        // Indices come from `find` on this immutable artifact, so they are in range.
        &self.artifact.packages[self.package].classes[self.index]
    }
}
