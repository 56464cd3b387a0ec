//! Declarations: builds the [`Model`] from the syntax trees. Groups files into packages,
//! declares records and classes, resolves `use`, parents and written types, checks
//! inheritance (cycles, `override`) and modifiers, and evaluates defaults.

use super::annotations;
use super::model::*;
use super::suggest;
use super::types::{assignable, literal_problem, Ty};
use super::{Checker, Symbol};
use crate::diagnostic::{Code, Diagnostic, Fix};
use crate::span::{FileId, Span};
use crate::syntax::ast;
use petgraph::graph::DiGraph;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Names visible in one file: its package's declarations, `use`d classes and the standard
/// library.
#[derive(Clone, Debug, Default)]
pub struct FileScope {
    /// The file's package.
    pub package: Option<PackageId>,
    /// Classes and records brought in with `use` (the package's own names and the standard
    /// library's are found through the model).
    pub names: HashMap<String, Symbol>,
    /// Names of `use` declarations that failed: already reported, so later uses of the name
    /// are not reported again.
    pub failed_imports: HashSet<String>,
}

impl Checker<'_> {
    /// Runs every declaration-level step, in order.
    pub(super) fn collect(&mut self) {
        self.declare_packages();
        self.declare_items();
        self.resolve_uses();
        self.resolve_parents();
        self.resolve_records();
        self.resolve_members();
        self.flatten_members();
    }

    fn declare_packages(&mut self) {
        // Directory -> first package name seen there, to catch mixed directories.
        let mut by_dir: HashMap<String, (String, FileId, Span)> = HashMap::new();
        for (file, ast) in self.files {
            let path = &self.sources.get(*file).path;
            let Some(pkg) = &ast.package else {
                // A file without `package` (E0003) is still checked, alone in a package whose
                // name no `package` line can spell.
                self.add_to_package(*file, &format!("<{path}>"));
                continue;
            };
            let dir = path
                .rsplit_once('/')
                .map(|(d, _)| d.to_string())
                .unwrap_or_default();
            if *file != self.stdlib {
                match by_dir.get(&dir) {
                    Some((first, first_file, first_span)) if *first != pkg.name => {
                        let d = Diagnostic::new(
                            Code::E0009,
                            *file,
                            pkg.span,
                            format!("this file is in package `{}`, but its directory holds package `{first}`", pkg.name),
                        )
                        .label(format!("package `{}`", pkg.name))
                        .secondary(*first_file, *first_span, format!("package `{first}` declared here"))
                        .note("a package is one file or a directory of files that name the same package")
                        .help("move the file to its own directory, or rename its package");
                        self.diagnostics.push(d);
                    }
                    Some(_) => {}
                    None => {
                        by_dir.insert(dir, (pkg.name.clone(), *file, pkg.span));
                    }
                }
            }
            self.add_to_package(*file, &pkg.name);
        }
    }

    fn add_to_package(&mut self, file: FileId, name: &str) {
        let id = match self.model.package_named(name) {
            Some(id) => id,
            None => {
                self.model.packages.push(Package {
                    name: name.to_string(),
                    files: Vec::new(),
                    classes: BTreeMap::new(),
                    records: BTreeMap::new(),
                });
                PackageId(self.model.packages.len() as u32 - 1)
            }
        };
        self.model.packages[id.0 as usize].files.push(file);
        self.scopes.insert(
            file,
            FileScope {
                package: Some(id),
                names: HashMap::new(),
                failed_imports: HashSet::new(),
            },
        );
    }

    fn declare_items(&mut self) {
        // (package, name) -> where first declared.
        let mut declared: HashMap<(PackageId, String), Loc> = HashMap::new();
        for (file, ast) in self.files {
            let Some(package) = self.scopes.get(file).and_then(|s| s.package) else {
                continue;
            };
            for item in &ast.items {
                let (name, kind) = match item {
                    ast::Item::Class(c) => (&c.name, "class"),
                    ast::Item::Record(r) => (&r.name, "record"),
                    ast::Item::Use(_) => continue,
                };
                if name.name.is_empty() {
                    continue;
                }
                let loc = Loc {
                    file: *file,
                    span: name.span,
                };
                if let Some(first) = declared.get(&(package, name.name.clone())) {
                    let d = Diagnostic::new(
                        Code::E0100,
                        *file,
                        name.span,
                        format!(
                            "`{}` is declared twice in package `{}`",
                            name.name,
                            self.model.package(package).name
                        ),
                    )
                    .label(format!("second {kind} named `{}`", name.name))
                    .secondary(first.file, first.span, "first declared here")
                    .help("rename one of them");
                    self.diagnostics.push(d);
                    continue;
                }
                declared.insert((package, name.name.clone()), loc);
                match item {
                    ast::Item::Class(c) => {
                        let id = ClassId(self.model.classes.len() as u32);
                        self.model.classes.push(Class {
                            name: c.name.name.clone(),
                            package,
                            loc,
                            decl: Loc {
                                file: *file,
                                span: c.span,
                            },
                            docs: c.docs.as_ref().map(|d| d.text.clone()),
                            parent: None,
                            annotations: Vec::new(),
                            own: Vec::new(),
                            members: BTreeMap::new(),
                            member_order: Vec::new(),
                        });
                        self.model.packages[package.0 as usize]
                            .classes
                            .insert(c.name.name.clone(), id);
                        self.class_asts.insert(id, (*file, c));
                        if *file == self.stdlib && c.name.name == "Object" {
                            self.model.object = Some(id);
                        }
                    }
                    ast::Item::Record(r) => {
                        let id = RecordId(self.model.records.len() as u32);
                        self.model.records.push(Record {
                            name: r.name.name.clone(),
                            package,
                            loc,
                            docs: r.docs.as_ref().map(|d| d.text.clone()),
                            fields: Vec::new(),
                        });
                        self.model.packages[package.0 as usize]
                            .records
                            .insert(r.name.name.clone(), id);
                        self.record_asts.insert(id, (*file, r));
                    }
                    ast::Item::Use(_) => {}
                }
            }
        }
        // The package's own names and the standard library's are looked up in the model, not
        // copied into each file's scope: copying would cost files x names.
        self.std_package = self.model.package_named("std");
    }

    fn resolve_uses(&mut self) {
        for (file, ast) in self.files {
            for u in ast.uses() {
                let Some(symbol) = self.imported(*file, u) else {
                    self.import_failed(*file, &u.name.name);
                    continue;
                };
                self.reference(*file, u.name.span, symbol);
                let existing = self.lookup_type_name(*file, &u.name.name);
                if existing.is_some_and(|e| e != symbol) {
                    let d = Diagnostic::new(
                        Code::E0100,
                        *file,
                        u.name.span,
                        format!("`{}` is already a name in this package", u.name.name),
                    )
                    .label("imported here")
                    .help(format!("refer to the other package's class through a class of another name, or rename `{}`", u.name.name));
                    if self.scopes.contains_key(file) {
                        self.diagnostics.push(d);
                    }
                    continue;
                }
                if let Some(scope) = self.scopes.get_mut(file) {
                    scope.names.insert(u.name.name.clone(), symbol);
                }
            }
        }
    }

    /// The class or record a `use` names; E0115 for an unknown package, E0111 for a name
    /// that package does not have.
    fn imported(&mut self, file: FileId, u: &ast::UseDecl) -> Option<Symbol> {
        let pkg_name = u
            .package
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join(".");
        let Some(pkg) = self.model.package_named(&pkg_name) else {
            let pkg_span = u
                .package
                .iter()
                .map(|i| i.span)
                .reduce(Span::cover)
                .unwrap_or(u.span);
            let names: Vec<&str> = self
                .model
                .packages
                .iter()
                .map(|p| p.name.as_str())
                .collect();
            let d = Diagnostic::new(
                Code::E0115,
                file,
                pkg_span,
                format!("there is no package `{pkg_name}`"),
            )
            .label("unknown package")
            .note("a package is found among the files given to the compiler")
            .did_you_mean(suggest::closest(&pkg_name, names));
            self.diagnostics.push(d);
            return None;
        };
        let package = self.model.package(pkg);
        if let Some(c) = package.classes.get(&u.name.name) {
            return Some(Symbol::Class(*c));
        }
        if let Some(r) = package.records.get(&u.name.name) {
            return Some(Symbol::Record(*r));
        }
        let names: Vec<&str> = package
            .classes
            .keys()
            .chain(package.records.keys())
            .map(String::as_str)
            .collect();
        let d = Diagnostic::new(
            Code::E0111,
            file,
            u.name.span,
            format!(
                "package `{pkg_name}` has no class or record `{}`",
                u.name.name
            ),
        )
        .label("not in that package")
        .did_you_mean(suggest::closest(&u.name.name, names));
        self.diagnostics.push(d);
        None
    }

    fn import_failed(&mut self, file: FileId, name: &str) {
        if self.lookup_type_name(file, name).is_some() {
            return;
        }
        if let Some(scope) = self.scopes.get_mut(&file) {
            scope.failed_imports.insert(name.to_string());
        }
    }

    /// Whether `name` is what a failed `use` of the file would have brought in.
    pub(super) fn is_failed_import(&self, file: FileId, name: &str) -> bool {
        self.scopes
            .get(&file)
            .is_some_and(|s| s.failed_imports.contains(name))
    }

    /// Resolves a name of a class or record in a file's scope: `use`d names, then the
    /// package's own, then the standard library's classes.
    pub(super) fn lookup_type_name(&self, file: FileId, name: &str) -> Option<Symbol> {
        let scope = self.scopes.get(&file)?;
        if let Some(symbol) = scope.names.get(name) {
            return Some(*symbol);
        }
        let in_package = |p: PackageId| {
            let p = self.model.package(p);
            p.classes
                .get(name)
                .map(|c| Symbol::Class(*c))
                .or_else(|| p.records.get(name).map(|r| Symbol::Record(*r)))
        };
        scope.package.and_then(in_package).or_else(|| {
            let std = self.model.package(self.std_package?);
            std.classes.get(name).map(|c| Symbol::Class(*c))
        })
    }

    /// Every class and record name visible in a file, for suggestions.
    fn visible_type_names(&self, file: FileId) -> Vec<&str> {
        let Some(scope) = self.scopes.get(&file) else {
            return Vec::new();
        };
        let mut names: Vec<&str> = scope.names.keys().map(String::as_str).collect();
        if let Some(p) = scope.package {
            let p = self.model.package(p);
            names.extend(p.classes.keys().chain(p.records.keys()).map(String::as_str));
        }
        if let Some(std) = self.std_package {
            names.extend(self.model.package(std).classes.keys().map(String::as_str));
        }
        names
    }

    fn resolve_parents(&mut self) {
        let ids: Vec<ClassId> = self.class_asts.keys().copied().collect();
        for id in ids {
            let (file, decl) = self.class_asts[&id];
            let parent = match &decl.parent {
                None if Some(id) == self.model.object => None,
                None => self.model.object,
                Some(p) => self.parent_named(file, p),
            };
            self.model.classes[id.0 as usize].parent = parent;
        }
        self.break_inheritance_cycles();
    }

    /// The class an `extends` names; `object` after an error (E0401 for a record, or the
    /// unknown-type error).
    fn parent_named(&mut self, file: FileId, p: &ast::Ident) -> Option<ClassId> {
        match self.lookup_type_name(file, &p.name) {
            Some(Symbol::Class(c)) => {
                self.reference(file, p.span, Symbol::Class(c));
                return Some(c);
            }
            Some(Symbol::Record(r)) => {
                self.reference(file, p.span, Symbol::Record(r));
                let rloc = self.model.record(r).loc;
                let d = Diagnostic::new(
                    Code::E0401,
                    file,
                    p.span,
                    format!(
                        "`{}` is a record, and a class can only extend a class",
                        p.name
                    ),
                )
                .label("a record")
                .secondary(rloc.file, rloc.span, "declared as a record here")
                .help("hold the record in a state field instead: `state data: Record`");
                self.diagnostics.push(d);
            }
            _ if self.is_failed_import(file, &p.name) => {}
            _ => {
                let d = self.unknown_type(file, p, "class");
                self.diagnostics.push(d);
            }
        }
        self.model.object
    }

    /// E0400 on each class of an inheritance cycle (found with petgraph's strongly connected
    /// components), whose parents then become `object` so that nothing after loops.
    fn break_inheritance_cycles(&mut self) {
        let mut graph = DiGraph::<ClassId, ()>::new();
        let nodes: Vec<_> = self.model.class_ids().map(|c| graph.add_node(c)).collect();
        for c in self.model.class_ids() {
            if let Some(p) = self.model.class(c).parent {
                graph.add_edge(nodes[c.0 as usize], nodes[p.0 as usize], ());
            }
        }
        for scc in petgraph::algo::tarjan_scc(&graph) {
            let cyclic = scc.len() > 1 || scc.iter().any(|n| graph.contains_edge(*n, *n));
            if !cyclic {
                continue;
            }
            let mut classes: Vec<ClassId> = scc.iter().map(|n| graph[*n]).collect();
            classes.sort();
            let names: Vec<String> = classes
                .iter()
                .map(|c| format!("`{}`", self.model.class(*c).name))
                .collect();
            for c in &classes {
                let (file, decl) = self.class_asts[c];
                let span = decl
                    .parent
                    .as_ref()
                    .map(|p| p.span)
                    .unwrap_or(decl.name.span);
                let mut d = Diagnostic::new(
                    Code::E0400,
                    file,
                    span,
                    format!(
                        "`{}` inherits from itself through {}",
                        decl.name.name,
                        names.join(" -> ")
                    ),
                )
                .label("this `extends` closes a cycle");
                for other in classes.iter().filter(|o| *o != c) {
                    let loc = self.model.class(*other).loc;
                    d = d.secondary(loc.file, loc.span, "part of the cycle");
                }
                self.diagnostics
                    .push(d.help("break the cycle by removing one `extends`"));
            }
            for c in classes {
                self.model.classes[c.0 as usize].parent = if Some(c) == self.model.object {
                    None
                } else {
                    self.model.object
                };
            }
        }
    }

    pub(super) fn unknown_type(&self, file: FileId, name: &ast::Ident, what: &str) -> Diagnostic {
        let mut candidates = self.visible_type_names(file);
        if what == "type" {
            candidates.extend(["int", "float", "bool", "string", "json", "Self"]);
        }
        let mut d = Diagnostic::new(
            Code::E0111,
            file,
            name.span,
            format!("there is no {what} named `{}`", name.name),
        )
        .label(format!("unknown {what}"));
        if what == "type" {
            d.code = Code::E0110;
            d.severity = Code::E0110.severity();
        }
        if let Some(s) = suggest::closest(&name.name, candidates) {
            d = d.did_you_mean(Some(s));
        } else if what == "class" {
            d = d.help("declare it in this package, or bring it in with `use package.Class`");
        }
        d
    }

    /// Resolves a written type. `self_class` is set inside classes, where `Self` is allowed.
    pub(super) fn resolve_type(
        &mut self,
        file: FileId,
        ty: &ast::TypeExpr,
        self_class: Option<ClassId>,
    ) -> Ty {
        match &ty.kind {
            ast::TypeExprKind::List(inner) => {
                Ty::List(Box::new(self.resolve_type(file, inner, self_class)))
            }
            ast::TypeExprKind::Optional(inner) => {
                self.resolve_type(file, inner, self_class).optional()
            }
            ast::TypeExprKind::Named(name) => match name.name.as_str() {
                "int" => Ty::Int,
                "float" => Ty::Float,
                "bool" => Ty::Bool,
                "string" => Ty::String,
                "json" => Ty::Json,
                "Self" if self_class.is_some() => Ty::SelfTy,
                "Self" => {
                    let d = Diagnostic::new(
                        Code::E0110,
                        file,
                        name.span,
                        "`Self` only means something inside a class",
                    )
                    .label("outside a class");
                    self.diagnostics.push(d);
                    Ty::Unknown
                }
                _ => match self.lookup_type_name(file, &name.name) {
                    Some(Symbol::Class(c)) => {
                        self.reference(file, name.span, Symbol::Class(c));
                        Ty::Class(c)
                    }
                    Some(Symbol::Record(r)) => {
                        self.reference(file, name.span, Symbol::Record(r));
                        Ty::Record(r)
                    }
                    _ => {
                        if !name.name.is_empty() && !self.is_failed_import(file, &name.name) {
                            let d = self.unknown_type(file, name, "type");
                            self.diagnostics.push(d);
                        }
                        Ty::Unknown
                    }
                },
            },
        }
    }

    fn resolve_records(&mut self) {
        let ids: Vec<RecordId> = self.record_asts.keys().copied().collect();
        for id in ids {
            let (file, decl) = self.record_asts[&id];
            for a in &decl.annotations {
                let d = Diagnostic::new(
                    Code::E0005,
                    file,
                    a.span,
                    format!(
                        "records take no annotations, but `@{}` is on one",
                        a.name.name
                    ),
                )
                .label("not allowed on a record")
                .note("annotations say how functions run; a record is only a value type");
                self.diagnostics.push(d);
            }
            let mut fields: Vec<RecordField> = Vec::new();
            for f in &decl.fields {
                if let Some(first) = fields.iter().find(|x| x.name == f.name.name) {
                    let d = Diagnostic::new(
                        Code::E0103,
                        file,
                        f.name.span,
                        format!("field `{}` is declared twice", f.name.name),
                    )
                    .label("second declaration")
                    .secondary(
                        first.loc.file,
                        first.loc.span,
                        "first declared here",
                    );
                    self.diagnostics.push(d);
                    continue;
                }
                let ty = self.resolve_type(file, &f.ty, None);
                if !super::types::is_json(&ty) {
                    let d = Diagnostic::new(
                        Code::E0110,
                        file,
                        f.ty.span,
                        "a record field holds a value, not an object",
                    )
                    .label("a class type")
                    .help("keep references to objects in a class's `ref` members");
                    self.diagnostics.push(d);
                }
                fields.push(RecordField {
                    name: f.name.name.clone(),
                    ty,
                    loc: Loc {
                        file,
                        span: f.name.span,
                    },
                });
            }
            self.model.records[id.0 as usize].fields = fields;
        }
    }

    fn resolve_members(&mut self) {
        let ids: Vec<ClassId> = self.class_asts.keys().copied().collect();
        for class in ids {
            let (file, decl) = self.class_asts[&class];
            let class_annotations =
                annotations::check_all(self, file, &decl.annotations, annotations::Target::Class);
            self.model.classes[class.0 as usize].annotations = class_annotations;
            let mut own: Vec<MemberId> = Vec::new();
            for m in &decl.members {
                if let Some(first) = own
                    .iter()
                    .map(|id| self.model.member(*id))
                    .find(|x| x.name == m.name.name)
                {
                    let d = Diagnostic::new(
                        Code::E0101,
                        file,
                        m.name.span,
                        format!(
                            "`{}` is declared twice in class `{}`",
                            m.name.name, decl.name.name
                        ),
                    )
                    .label(format!("second {}", m.kind.describe()))
                    .secondary(
                        first.loc.file,
                        first.loc.span,
                        "first declared here",
                    );
                    self.diagnostics.push(d);
                    continue;
                }
                let member = self.resolve_member(class, file, m);
                let id = MemberId(self.model.members.len() as u32);
                self.model.members.push(member);
                self.member_asts.insert(id, (file, m));
                self.reference(file, m.name.span, Symbol::Member(id));
                own.push(id);
            }
            self.model.classes[class.0 as usize].own = own;
        }
    }

    fn resolve_member(&mut self, class: ClassId, file: FileId, m: &ast::Member) -> Member {
        self.check_modifiers(file, m);
        let callable = matches!(
            m.kind,
            ast::MemberKind::Fn(_) | ast::MemberKind::Macro { .. }
        );
        let target = match m.kind {
            ast::MemberKind::Fn(_) => annotations::Target::Fn,
            ast::MemberKind::Macro { .. } => annotations::Target::Macro,
            _ => annotations::Target::Data,
        };
        let member_annotations = annotations::check_all(self, file, &m.annotations, target);
        let kind = match &m.kind {
            ast::MemberKind::State { ty, default } => {
                self.state_member(class, file, m, ty, default.as_ref())
            }
            ast::MemberKind::File { media_type } => MemberKind::File {
                media_type: media_type.as_ref().map(|s| s.value.clone()),
            },
            ast::MemberKind::Ref { ty, default } => {
                self.ref_member(class, file, ty, default.as_ref())
            }
            ast::MemberKind::Fn(sig) => MemberKind::Fn(self.signature(class, file, sig)),
            ast::MemberKind::Macro { sig, .. } => {
                MemberKind::Macro(self.signature(class, file, sig))
            }
        };
        Member {
            name: m.name.name.clone(),
            owner: class,
            kind,
            access: m.modifiers.access(),
            // Modifiers refused by `check_modifiers` (E0007) do not count, so they cause
            // nothing further.
            is_mut: m.modifiers.mut_.is_some() && matches!(m.kind, ast::MemberKind::Fn(_)),
            is_static: m.modifiers.static_.is_some() && callable,
            is_override: m.modifiers.override_.is_some() && callable,
            loc: Loc {
                file,
                span: m.name.span,
            },
            decl: Loc { file, span: m.span },
            docs: m.docs.as_ref().map(|d| d.text.clone()),
            annotations: member_annotations,
            overrides: None,
        }
    }

    /// A `state` field: its type (E0110 for a class type, with the fix to `ref`) and its
    /// default, a constant of that type.
    fn state_member(
        &mut self,
        class: ClassId,
        file: FileId,
        m: &ast::Member,
        ty: &ast::TypeExpr,
        default: Option<&ast::Expr>,
    ) -> MemberKind {
        let resolved = self.resolve_type(file, ty, Some(class));
        if holds_object(&resolved) {
            let d = Diagnostic::new(
                Code::E0110,
                file,
                ty.span,
                "state holds values; objects are referred to with `ref`",
            )
            .label("a class type in a state field")
            .help(format!(
                "declare it as `ref {}: {}`",
                m.name.name,
                self.sources.get(file).slice(ty.span)
            ));
            let d = match self.keyword_before_name(file, m, "state") {
                Some(at) => d.fix(Fix::replace("Declare it as `ref`", file, at, "ref").preferred()),
                None => d,
            };
            self.diagnostics.push(d);
        }
        let default = default.and_then(|e| self.constant(file, e, &resolved, "a state default"));
        MemberKind::State {
            ty: resolved,
            default,
        }
    }

    /// A `ref`: a class or a list or optional of one (E0110), defaulting at most to `[]` or
    /// `null` (E0207), since object ids are only known at run time.
    fn ref_member(
        &mut self,
        class: ClassId,
        file: FileId,
        ty: &ast::TypeExpr,
        default: Option<&ast::Expr>,
    ) -> MemberKind {
        let resolved = self.resolve_type(file, ty, Some(class));
        let ok = match &resolved {
            Ty::Class(_) | Ty::SelfTy | Ty::Unknown => true,
            Ty::List(t) | Ty::Optional(t) => {
                matches!(**t, Ty::Class(_) | Ty::SelfTy | Ty::Unknown)
            }
            _ => false,
        };
        if !ok {
            let d = Diagnostic::new(
                Code::E0110,
                file,
                ty.span,
                "a `ref` refers to objects: its type must be a class or a list of a class",
            )
            .label("not a class")
            .help("for values, use `state`");
            self.diagnostics.push(d);
        }
        if let Some(e) = default {
            let empty = matches!(&e.kind, ast::ExprKind::List { items } if items.is_empty())
                || matches!(e.kind, ast::ExprKind::Null);
            if empty {
                self.constant(file, e, &resolved, "a ref default");
            } else {
                let d = Diagnostic::new(
                    Code::E0207,
                    file,
                    e.span,
                    "a `ref` can only default to `[]` or `null`",
                )
                .label("not a constant reference")
                .note("object ids are only known at run time");
                self.diagnostics.push(d);
            }
        }
        MemberKind::Ref { ty: resolved }
    }

    /// The span of the keyword `word` written between a member's start and its name (the
    /// tree keeps the name and modifiers, not the kind's keyword).
    fn keyword_before_name(&self, file: FileId, m: &ast::Member, word: &str) -> Option<Span> {
        let start = m.span.start as usize;
        let head = self
            .sources
            .get(file)
            .text
            .get(start..m.name.span.start as usize)?;
        let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let at = head.match_indices(word).map(|(i, _)| i).filter(|&i| {
            let before = head[..i].chars().next_back();
            let after = head[i + word.len()..].chars().next();
            !before.is_some_and(is_word) && !after.is_some_and(is_word)
        });
        let at = at.last()?;
        Some(Span::new(start + at, start + at + word.len()))
    }

    fn check_modifiers(&mut self, file: FileId, m: &ast::Member) {
        let is_fn = matches!(m.kind, ast::MemberKind::Fn(_));
        let is_callable = is_fn || matches!(m.kind, ast::MemberKind::Macro { .. });
        if let (Some(mut_span), Some(static_span)) = (m.modifiers.mut_, m.modifiers.static_) {
            if is_fn {
                let d = Diagnostic::new(
                    Code::E0500,
                    file,
                    mut_span,
                    format!("`{}` is both `mut` and `static`", m.name.name),
                )
                .label("`mut` changes an object")
                .secondary(file, static_span, "but a `static` function has no object")
                .help("remove one of the two");
                self.diagnostics.push(d);
            }
        }
        let kind = m.kind.describe();
        let mut refuse = |span: Option<Span>, word: &str, why: &str| {
            if let Some(span) = span {
                let d = Diagnostic::new(
                    Code::E0007,
                    file,
                    span,
                    format!("a {kind} cannot be `{word}`"),
                )
                .label(format!("`{word}` on a {kind}"))
                .note(why.to_string());
                self.diagnostics.push(d);
            }
        };
        if !is_fn {
            refuse(m.modifiers.mut_, "mut", "only a function can change its object; a macro changes objects by calling `mut` functions");
        }
        if !is_callable {
            refuse(
                m.modifiers.static_,
                "static",
                "state, files and refs belong to each object",
            );
            refuse(
                m.modifiers.override_,
                "override",
                "only functions and macros can be overridden",
            );
        }
    }

    fn signature(&mut self, class: ClassId, file: FileId, sig: &ast::Signature) -> Signature {
        let mut params: Vec<Param> = Vec::new();
        for p in &sig.params {
            if let Some(first) = params.iter().find(|x| x.name == p.name.name) {
                let d = Diagnostic::new(
                    Code::E0102,
                    file,
                    p.name.span,
                    format!("parameter `{}` is declared twice", p.name.name),
                )
                .label("second parameter with this name")
                .secondary(first.loc.file, first.loc.span, "first declared here");
                self.diagnostics.push(d);
                continue;
            }
            let ty = self.resolve_type(file, &p.ty, Some(class));
            let default = p
                .default
                .as_ref()
                .and_then(|e| self.constant(file, e, &ty, "a parameter default"));
            params.push(Param {
                name: p.name.name.clone(),
                ty,
                default,
                loc: Loc {
                    file,
                    span: p.name.span,
                },
            });
        }
        let ret = sig
            .ret
            .as_ref()
            .map(|t| self.resolve_type(file, t, Some(class)));
        Signature { params, ret }
    }

    /// Evaluates a default: it must be a constant of the declared type.
    pub(super) fn constant(
        &mut self,
        file: FileId,
        expr: &ast::Expr,
        ty: &Ty,
        what: &str,
    ) -> Option<serde_json::Value> {
        let Some((value, found)) = const_value(expr) else {
            let d = Diagnostic::new(Code::E0207, file, expr.span, format!("{what} must be a constant"))
                .label("not a constant")
                .note("constants are numbers, strings, `true`, `false`, `null`, and lists and `{...}` objects of them");
            self.diagnostics.push(d);
            return Some(serde_json::Value::Null);
        };
        let leaf = |e: &ast::Expr| const_value(e).map(|(_, t)| t).unwrap_or(Ty::Unknown);
        if let Some((span, problem)) = literal_problem(&self.model, expr, ty, &leaf) {
            // A problem inside a literal is shown where it is; a plain mismatch as a whole.
            let nested = span != expr.span || problem.starts_with("record");
            let d = if nested {
                Diagnostic::new(
                    Code::E0207,
                    file,
                    span,
                    format!(
                        "{what} must be of type `{}`: {problem}",
                        ty.display(&self.model)
                    ),
                )
                .label("does not fit the declared type")
            } else {
                Diagnostic::new(
                    Code::E0207,
                    file,
                    span,
                    format!(
                        "{what} must be of type `{}`, but this is `{}`",
                        ty.display(&self.model),
                        found.display(&self.model)
                    ),
                )
                .label(format!("of type `{}`", found.display(&self.model)))
            };
            self.diagnostics.push(d);
            // Count the default as given, so calls are not also told it is missing.
            return Some(serde_json::Value::Null);
        }
        Some(value)
    }

    fn flatten_members(&mut self) {
        // Parents before children: order classes by depth of inheritance.
        let depths = self.model.depths();
        let mut order: Vec<ClassId> = self.model.class_ids().collect();
        order.sort_by_key(|c| depths[c.0 as usize]);
        for class in order {
            let parent = self.model.class(class).parent;
            let (mut members, mut member_order) = match parent {
                Some(p) => (
                    self.model.class(p).members.clone(),
                    self.model.class(p).member_order.clone(),
                ),
                None => (BTreeMap::new(), Vec::new()),
            };
            let own = self.model.class(class).own.clone();
            for id in own {
                let name = self.model.member(id).name.clone();
                match members.get(&name).copied() {
                    Some(inherited) => {
                        if self.check_override(id, inherited) {
                            self.model.members[id.0 as usize].overrides = Some(inherited);
                        }
                        if let Some(pos) = member_order.iter().position(|m| *m == inherited) {
                            member_order[pos] = id;
                        }
                    }
                    None => {
                        let m = self.model.member(id);
                        if let (true, Some((file, ast))) =
                            (m.is_override, self.member_asts.get(&id))
                        {
                            let span = ast.modifiers.override_.unwrap_or(m.loc.span);
                            let parent_name = parent
                                .map(|p| self.model.class(p).name.clone())
                                .unwrap_or_default();
                            let d = Diagnostic::new(Code::E0403, *file, span, format!("`{name}` overrides nothing"))
                                .label("`override` here")
                                .note(format!("no ancestor of `{}` (from `{parent_name}` up) has a member named `{name}`", self.model.class(class).name))
                                .help("remove `override`, or check the name");
                            self.diagnostics.push(d);
                        }
                        member_order.push(id);
                    }
                }
                members.insert(name, id);
            }
            let c = &mut self.model.classes[class.0 as usize];
            c.members = members;
            c.member_order = member_order;
        }
    }

    /// Checks that `own` may replace `inherited`; returns whether it overrides it.
    fn check_override(&mut self, own: MemberId, inherited: MemberId) -> bool {
        let (o, i) = (
            self.model.member(own).clone(),
            self.model.member(inherited).clone(),
        );
        let Some(&(file, ast)) = self.member_asts.get(&own) else {
            return false;
        };
        let parent_class = self.model.class(i.owner).name.clone();
        if !o.is_callable() || !i.is_callable() {
            let d = Diagnostic::new(
                Code::E0101,
                file,
                o.loc.span,
                format!(
                    "`{}` is already a {} inherited from `{parent_class}`",
                    o.name,
                    i.describe()
                ),
            )
            .label(format!("declares `{}` again", o.name))
            .secondary(i.loc.file, i.loc.span, "inherited from here")
            .note("only functions and macros can be overridden");
            self.diagnostics.push(d);
            return false;
        }
        if !o.is_override {
            let d = Diagnostic::new(
                Code::E0402,
                file,
                o.loc.span,
                format!("`{}` replaces the {} `{}` of `{parent_class}` without `override`", o.name, i.describe(), i.name),
            )
            .label("hides an inherited member")
            .secondary(i.loc.file, i.loc.span, "inherited from here")
            .help(format!("write `override` before it if you mean to replace `{parent_class}.{}`, or choose another name", i.name));
            self.diagnostics.push(d);
            return false;
        }
        let problems = override_problems(&self.model, &o, &i);
        if !problems.is_empty() {
            let mut d = Diagnostic::new(
                Code::E0404,
                file,
                ast.kind
                    .signature()
                    .map(|s| o.loc.span.cover(s.span))
                    .unwrap_or(o.loc.span),
                format!("`{}` does not match the `{}` it overrides", o.name, i.name),
            )
            .label("incompatible override")
            .secondary(
                i.loc.file,
                i.loc.span,
                format!("`{parent_class}.{}` declared here", i.name),
            );
            for p in problems {
                d = d.note(p);
            }
            self.diagnostics.push(d.help("an override takes the same parameters and returns the same type or a subclass of it"));
        }
        if o.access < i.access {
            self.diagnostics
                .push(weaker_access(file, ast.modifiers.access, &o, &i));
        }
        true
    }
}

/// What keeps `o` from overriding `i`: parameters, return type, `mut`, `static` and kind
/// compared, one sentence each (none when it may).
fn override_problems(model: &Model, o: &Member, i: &Member) -> Vec<String> {
    let mut problems = Vec::new();
    if let (Some(os), Some(is)) = (o.signature(), i.signature()) {
        if os.params.len() != is.params.len() {
            problems.push(format!(
                "it takes {} parameters, the inherited one {}",
                os.params.len(),
                is.params.len()
            ));
        } else {
            for (a, b) in os.params.iter().zip(&is.params) {
                if a.name != b.name
                    || a.ty.subst_self(o.owner) != b.ty.subst_self(o.owner) && a.ty != b.ty
                {
                    problems.push(format!(
                        "parameter `{}: {}` differs from the inherited `{}: {}`",
                        a.name,
                        a.ty.display(model),
                        b.name,
                        b.ty.display(model)
                    ));
                }
            }
        }
        let oret = os.ret.as_ref().map(|t| t.subst_self(o.owner));
        let iret = is.ret.as_ref().map(|t| t.subst_self(o.owner));
        let ret_ok = match (&oret, &iret) {
            (None, None) => true,
            (Some(a), Some(b)) => assignable(model, a, b),
            _ => false,
        };
        if !ret_ok {
            let show = |t: &Option<Ty>| {
                t.as_ref()
                    .map(|t| t.display(model))
                    .unwrap_or_else(|| "nothing".into())
            };
            problems.push(format!(
                "it returns `{}` where the inherited one returns `{}`",
                show(&oret),
                show(&iret)
            ));
        }
    }
    if o.is_mut != i.is_mut {
        problems.push(if i.is_mut {
            "the inherited one is `mut`".into()
        } else {
            "the inherited one is not `mut`".into()
        });
    }
    if o.is_static != i.is_static {
        problems.push(if i.is_static {
            "the inherited one is `static`".into()
        } else {
            "the inherited one is not `static`".into()
        });
    }
    if matches!(o.kind, MemberKind::Fn(_)) != matches!(i.kind, MemberKind::Fn(_)) {
        problems.push(format!(
            "a {} cannot override a {}",
            o.describe(),
            i.describe()
        ));
    }
    problems
}

/// E0405: the override `o` (in `file`, its access keyword at `written`) is weaker than the
/// `i` it overrides; the fix writes the inherited access.
fn weaker_access(
    file: FileId,
    written: Option<(ast::Access, Span)>,
    o: &Member,
    i: &Member,
) -> Diagnostic {
    let span = written.map(|(_, s)| s).unwrap_or(o.loc.span);
    let d = Diagnostic::new(
        Code::E0405,
        file,
        span,
        format!(
            "`{}` is `{}`, weaker than the `{}` member it overrides",
            o.name,
            o.access.as_str(),
            i.access.as_str()
        ),
    )
    .label("weaker access")
    .secondary(
        i.loc.file,
        i.loc.span,
        format!("`{}` here", i.access.as_str()),
    )
    .note("callers of the parent's member must be able to call the override")
    .help(format!("make it `{}`", i.access.as_str()));
    match written {
        Some((_, at)) => d.fix(
            Fix::replace(
                format!("Make it `{}`", i.access.as_str()),
                file,
                at,
                i.access.as_str(),
            )
            .preferred(),
        ),
        None => d,
    }
}

/// The value and type of a constant expression, or `None` if it is not constant.
pub fn const_value(expr: &ast::Expr) -> Option<(serde_json::Value, Ty)> {
    use serde_json::Value;
    Some(match &expr.kind {
        ast::ExprKind::Int { value } => (Value::from(*value), Ty::Int),
        ast::ExprKind::Float { value } => (Value::from(*value), Ty::Float),
        ast::ExprKind::Str { value } => (Value::from(value.clone()), Ty::String),
        ast::ExprKind::Bool { value } => (Value::from(*value), Ty::Bool),
        ast::ExprKind::Null => (Value::Null, Ty::Optional(Box::new(Ty::Unknown))),
        ast::ExprKind::Duration { millis } => (Value::from(*millis), Ty::Duration),
        ast::ExprKind::List { items } => {
            let mut values = Vec::with_capacity(items.len());
            let mut elem: Option<Ty> = None;
            for item in items {
                let (v, t) = const_value(item)?;
                values.push(v);
                elem = Some(match elem {
                    None => t,
                    Some(prev) if prev == t => prev,
                    Some(Ty::Int) if t == Ty::Float => Ty::Float,
                    Some(Ty::Float) if t == Ty::Int => Ty::Float,
                    Some(_) => Ty::Json,
                });
            }
            (
                Value::Array(values),
                Ty::List(Box::new(elem.unwrap_or(Ty::Unknown))),
            )
        }
        ast::ExprKind::Object { members } => {
            let mut map = serde_json::Map::new();
            for (k, v) in members {
                map.insert(k.clone(), const_value(v)?.0);
            }
            (Value::Object(map), Ty::Json)
        }
        _ => return None,
    })
}

/// Whether values of a type hold objects: a class, or a list or optional of one.
fn holds_object(ty: &Ty) -> bool {
    match ty {
        Ty::Class(_) | Ty::SelfTy => true,
        Ty::List(t) | Ty::Optional(t) => holds_object(t),
        _ => false,
    }
}
