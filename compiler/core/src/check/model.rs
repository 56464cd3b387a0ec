//! The resolved model of a workspace: packages, records and classes with their members,
//! inheritance flattened, types resolved. Later stages (graphs, artifacts, the language
//! server) read this instead of the syntax tree.

use super::types::Ty;
use crate::span::{FileId, Span};
use crate::syntax::ast::Access;
use std::collections::BTreeMap;

/// Index of a package in [`Model::packages`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageId(pub u32);
/// Index of a class in [`Model::classes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClassId(pub u32);
/// Index of a record in [`Model::records`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId(pub u32);
/// Index of a member in [`Model::members`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberId(pub u32);

/// A place in the sources.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Loc {
    /// The file.
    pub file: FileId,
    /// The span.
    pub span: Span,
}

/// A package: the files that name it and what they declare.
#[derive(Clone, Debug)]
pub struct Package {
    /// `video`.
    pub name: String,
    /// The files declaring `package NAME`.
    pub files: Vec<FileId>,
    /// Classes by name.
    pub classes: BTreeMap<String, ClassId>,
    /// Records by name.
    pub records: BTreeMap<String, RecordId>,
}

/// A record type.
#[derive(Clone, Debug)]
pub struct Record {
    /// The name.
    pub name: String,
    /// Its package.
    pub package: PackageId,
    /// Where the name is declared.
    pub loc: Loc,
    /// Doc comment.
    pub docs: Option<String>,
    /// Fields in order.
    pub fields: Vec<RecordField>,
}

/// A field of a record.
#[derive(Clone, Debug)]
pub struct RecordField {
    /// The name.
    pub name: String,
    /// The type.
    pub ty: Ty,
    /// Where the name is declared.
    pub loc: Loc,
}

/// A run setting written as an annotation, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct AnnotationValue {
    /// `local`, `timeout`, ...
    pub name: String,
    /// Arguments by name (positional ones under their documented names).
    pub args: BTreeMap<String, serde_json::Value>,
    /// Where it is written.
    pub loc: Loc,
}

/// A class with its members, own and inherited.
#[derive(Clone, Debug)]
pub struct Class {
    /// The name.
    pub name: String,
    /// Its package.
    pub package: PackageId,
    /// Where the name is declared.
    pub loc: Loc,
    /// The whole declaration.
    pub decl: Loc,
    /// Doc comment.
    pub docs: Option<String>,
    /// The parent (`Object` for classes that name none; `None` for `Object` itself and after
    /// an error such as a cycle).
    pub parent: Option<ClassId>,
    /// Annotations written on the class.
    pub annotations: Vec<AnnotationValue>,
    /// Members declared in this class, in order.
    pub own: Vec<MemberId>,
    /// Every member visible on the class, inherited ones included (an override replaces the
    /// parent's), by name.
    pub members: BTreeMap<String, MemberId>,
    /// Order of `members` for output: inherited first, then own.
    pub member_order: Vec<MemberId>,
}

/// What a member is.
#[derive(Clone, Debug)]
pub enum MemberKind {
    /// Structured state.
    State {
        /// The type.
        ty: Ty,
        /// The default, if any.
        default: Option<serde_json::Value>,
    },
    /// A file (blob).
    File {
        /// The media type, if given.
        media_type: Option<String>,
    },
    /// A reference to other objects.
    Ref {
        /// `Class`, `[Class]` or an optional of them.
        ty: Ty,
    },
    /// A task function run by a container.
    Fn(Signature),
    /// A dataflow over other functions.
    Macro(Signature),
}

/// Parameters and result of a function or macro.
#[derive(Clone, Debug)]
pub struct Signature {
    /// Parameters in order.
    pub params: Vec<Param>,
    /// The result; `None` for functions without one.
    pub ret: Option<Ty>,
}

/// A parameter.
#[derive(Clone, Debug)]
pub struct Param {
    /// The name.
    pub name: String,
    /// The type.
    pub ty: Ty,
    /// The default, if any (then the argument is optional).
    pub default: Option<serde_json::Value>,
    /// Where the name is declared.
    pub loc: Loc,
}

/// A member of a class.
#[derive(Clone, Debug)]
pub struct Member {
    /// The name.
    pub name: String,
    /// The class that declares it.
    pub owner: ClassId,
    /// What it is.
    pub kind: MemberKind,
    /// Who may use it.
    pub access: Access,
    /// `mut`: may change its object (a new version).
    pub is_mut: bool,
    /// `static`: called on the class, has no object.
    pub is_static: bool,
    /// `override`.
    pub is_override: bool,
    /// Where the name is declared.
    pub loc: Loc,
    /// The whole member.
    pub decl: Loc,
    /// Doc comment.
    pub docs: Option<String>,
    /// Annotations written on the member.
    pub annotations: Vec<AnnotationValue>,
    /// The member it overrides, if any.
    pub overrides: Option<MemberId>,
}

impl Member {
    /// The signature of a function or macro.
    pub fn signature(&self) -> Option<&Signature> {
        match &self.kind {
            MemberKind::Fn(sig) | MemberKind::Macro(sig) => Some(sig),
            _ => None,
        }
    }

    /// Whether this is a function or macro (something to call).
    pub fn is_callable(&self) -> bool {
        self.signature().is_some()
    }

    /// A word for the kind, for messages.
    pub fn describe(&self) -> &'static str {
        match self.kind {
            MemberKind::State { .. } => "state field",
            MemberKind::File { .. } => "file",
            MemberKind::Ref { .. } => "ref",
            MemberKind::Fn(_) => "function",
            MemberKind::Macro(_) => "macro",
        }
    }
}

/// Everything declared in a workspace, resolved.
#[derive(Clone, Debug, Default)]
pub struct Model {
    /// Packages.
    pub packages: Vec<Package>,
    /// Classes.
    pub classes: Vec<Class>,
    /// Records.
    pub records: Vec<Record>,
    /// Members of all classes.
    pub members: Vec<Member>,
    /// The standard library's `Object`, base of every class.
    pub object: Option<ClassId>,
}

impl Model {
    /// A class by id.
    pub fn class(&self, id: ClassId) -> &Class {
        &self.classes[id.0 as usize]
    }

    /// A record by id.
    pub fn record(&self, id: RecordId) -> &Record {
        &self.records[id.0 as usize]
    }

    /// A member by id.
    pub fn member(&self, id: MemberId) -> &Member {
        &self.members[id.0 as usize]
    }

    /// A package by id.
    pub fn package(&self, id: PackageId) -> &Package {
        &self.packages[id.0 as usize]
    }

    /// A package by name.
    pub fn package_named(&self, name: &str) -> Option<PackageId> {
        self.packages
            .iter()
            .position(|p| p.name == name)
            .map(|i| PackageId(i as u32))
    }

    /// Looks up a member visible on a class (inherited included).
    pub fn lookup(&self, class: ClassId, name: &str) -> Option<MemberId> {
        self.class(class).members.get(name).copied()
    }

    /// The class and its ancestors, nearest first. Stops on a cycle. Linear in the depth: a
    /// walk longer than there are classes has gone round a cycle, and is cut where it first
    /// repeats.
    pub fn ancestors(&self, class: ClassId) -> Vec<ClassId> {
        let mut out = vec![class];
        let mut current = self.class(class).parent;
        while let Some(c) = current {
            if out.len() > self.classes.len() {
                let mut seen = std::collections::HashSet::new();
                let repeat = out.iter().position(|c| !seen.insert(*c));
                out.truncate(repeat.unwrap_or(out.len()));
                break;
            }
            out.push(c);
            current = self.class(c).parent;
        }
        out
    }

    /// The depth of inheritance of every class, by [`ClassId`] (0 for a class without a
    /// parent), in time linear in the number of classes.
    pub fn depths(&self) -> Vec<usize> {
        let n = self.classes.len();
        let mut depth: Vec<Option<usize>> = vec![None; n];
        for start in self.class_ids() {
            // Walk up to a class of known depth, then number the walk back down.
            let mut path = Vec::new();
            let mut current = Some(start);
            while let Some(c) = current {
                if depth[c.0 as usize].is_some() || path.len() > n {
                    break;
                }
                path.push(c);
                current = self.class(c).parent;
            }
            let first = current
                .and_then(|c| depth[c.0 as usize])
                .map_or(0, |d| d + 1);
            for (d, c) in (first..).zip(path.into_iter().rev()) {
                depth[c.0 as usize] = Some(d);
            }
        }
        depth.into_iter().map(Option::unwrap_or_default).collect()
    }

    /// Whether `sub` is `sup` or inherits from it.
    pub fn is_subclass(&self, sub: ClassId, sup: ClassId) -> bool {
        self.ancestors(sub).contains(&sup)
    }

    /// The nearest class both inherit from.
    pub fn common_ancestor(&self, a: ClassId, b: ClassId) -> Option<ClassId> {
        let of_b = self.ancestors(b);
        self.ancestors(a).into_iter().find(|c| of_b.contains(c))
    }

    /// `package.Class`, as the runtime names classes.
    pub fn qualified_name(&self, class: ClassId) -> String {
        let c = self.class(class);
        format!("{}.{}", self.package(c.package).name, c.name)
    }

    /// Every class id.
    pub fn class_ids(&self) -> impl Iterator<Item = ClassId> {
        (0..self.classes.len() as u32).map(ClassId)
    }

    /// The annotation in force for a function: on the member, else on its class or the
    /// nearest ancestor class that has it.
    pub fn setting(
        &self,
        class: ClassId,
        member: MemberId,
        name: &str,
    ) -> Option<&AnnotationValue> {
        if let Some(a) = self
            .member(member)
            .annotations
            .iter()
            .find(|a| a.name == name)
        {
            return Some(a);
        }
        self.ancestors(class)
            .into_iter()
            .find_map(|c| self.class(c).annotations.iter().find(|a| a.name == name))
    }
}
