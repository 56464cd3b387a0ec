//! Checking a workspace: parse every file, group files into packages, resolve names, check
//! types, access, inheritance and mutability. Produces the [`Analysis`] that the graph
//! builder, the artifact writer and the language server read.
//!
//! Steps, in order: [`collect`] builds the [`Model`] (declarations, `use`, parents, written
//! types, overrides, annotations, defaults); [`body`] checks macro bodies; then whole-package
//! rules (macro recursion, functions with no way to run).

pub mod annotations;
mod body;
mod collect;
pub mod model;
pub mod suggest;
pub mod types;

use crate::diagnostic::{self, Code, Diagnostic};
use crate::span::{FileId, Sources, Span};
use crate::syntax::{self, ast};
use model::*;
use std::collections::{BTreeMap, HashMap};
use types::Ty;

pub use collect::const_value;

/// What a name in the source refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Symbol {
    /// A class.
    Class(ClassId),
    /// A record.
    Record(RecordId),
    /// A field of a record, by index.
    RecordField(RecordId, u32),
    /// A member of a class.
    Member(MemberId),
    /// A parameter of a function or macro, by index.
    Param(MemberId, u32),
    /// A `let` binding or loop variable, by where it is bound.
    Local(Loc),
}

/// One occurrence of a name and what it refers to (declarations included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reference {
    /// Where the name is written.
    pub loc: Loc,
    /// What it names.
    pub symbol: Symbol,
}

/// How a call in a macro was resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedCall {
    /// The class the function was looked up on (the receiver's declared class).
    pub class: ClassId,
    /// The function or macro called.
    pub member: MemberId,
    /// A static call on the class (`Detection.merge(...)`), not on an object.
    pub on_class: bool,
    /// For each parameter (for `new`: each state field and ref), the index of the argument
    /// bound to it, or `None` when it takes its default.
    pub bindings: Vec<(String, Option<usize>)>,
    /// The result type (`Unit` for none).
    pub result: Ty,
    /// A call of the builtin `new`.
    pub is_new: bool,
}

/// Everything known about a workspace after checking.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Each file's tree, in file order (the standard library first).
    pub files: Vec<(FileId, ast::File)>,
    /// Every diagnostic, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
    /// Packages, classes, records and members, resolved.
    pub model: Model,
    /// Every call in a macro, by the call expression's place.
    pub calls: HashMap<(FileId, Span), ResolvedCall>,
    /// The type of every expression in a macro and of every `let` name.
    pub expr_types: HashMap<(FileId, Span), Ty>,
    /// Every resolved name, declarations included, in source order.
    pub references: Vec<Reference>,
}

impl Analysis {
    /// How many errors there are.
    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    /// How many warnings there are.
    pub fn warning_count(&self) -> usize {
        self.diagnostics.len() - self.error_count()
    }

    /// The tree of a file.
    pub fn file(&self, id: FileId) -> Option<&ast::File> {
        self.files.iter().find(|(f, _)| *f == id).map(|(_, a)| a)
    }

    /// The syntax of a member (for macro bodies).
    pub fn member_ast(&self, id: MemberId) -> Option<&ast::Member> {
        let m = self.model.member(id);
        let class = self.model.class(m.owner);
        let file = self.file(class.decl.file)?;
        file.classes()
            .find(|c| c.span == class.decl.span)?
            .members
            .iter()
            .find(|x| x.name.span == m.loc.span)
    }
}

/// Parses and checks all files of `sources`. File 0 is taken to be the standard library.
pub fn analyze(sources: &Sources) -> Analysis {
    let mut diagnostics = Vec::new();
    let mut files = Vec::with_capacity(sources.len());
    for (id, file) in sources.iter() {
        let parsed = syntax::parse(id, &file.text);
        diagnostics.extend(parsed.diagnostics);
        files.push((id, parsed.ast));
    }
    let mut checker = Checker {
        sources,
        files: &files,
        stdlib: FileId(0),
        model: Model::default(),
        diagnostics,
        scopes: HashMap::new(),
        class_asts: BTreeMap::new(),
        record_asts: BTreeMap::new(),
        member_asts: BTreeMap::new(),
        calls: HashMap::new(),
        expr_types: HashMap::new(),
        references: Vec::new(),
    };
    checker.collect();
    checker.check_bodies();
    checker.check_macro_recursion();
    checker.check_runnable();
    let Checker {
        model,
        mut diagnostics,
        calls,
        expr_types,
        mut references,
        ..
    } = checker;
    diagnostic::sort(&mut diagnostics);
    diagnostics.dedup();
    references.sort_by_key(|r| r.loc);
    references.dedup();
    Analysis {
        files,
        diagnostics,
        model,
        calls,
        expr_types,
        references,
    }
}

/// The state of one check run.
pub(crate) struct Checker<'a> {
    sources: &'a Sources,
    files: &'a [(FileId, ast::File)],
    stdlib: FileId,
    model: Model,
    diagnostics: Vec<Diagnostic>,
    scopes: HashMap<FileId, collect::FileScope>,
    class_asts: BTreeMap<ClassId, (FileId, &'a ast::ClassDecl)>,
    record_asts: BTreeMap<RecordId, (FileId, &'a ast::RecordDecl)>,
    member_asts: BTreeMap<MemberId, (FileId, &'a ast::Member)>,
    calls: HashMap<(FileId, Span), ResolvedCall>,
    expr_types: HashMap<(FileId, Span), Ty>,
    references: Vec<Reference>,
}

impl Checker<'_> {
    fn reference(&mut self, file: FileId, span: Span, symbol: Symbol) {
        self.references.push(Reference {
            loc: Loc { file, span },
            symbol,
        });
    }

    /// Macros that call each other in a cycle cannot be turned into a finite graph.
    fn check_macro_recursion(&mut self) {
        use petgraph::graph::DiGraph;
        let mut graph = DiGraph::<MemberId, Loc>::new();
        let mut nodes = HashMap::new();
        let mut node = |g: &mut DiGraph<MemberId, Loc>, m: MemberId| {
            *nodes.entry(m).or_insert_with(|| g.add_node(m))
        };
        // Which macro each call sits in: by span containment within the macro's declaration.
        let macros: Vec<MemberId> = self
            .member_asts
            .iter()
            .filter(|(_, (_, m))| matches!(m.kind, ast::MemberKind::Macro { .. }))
            .map(|(id, _)| *id)
            .collect();
        let mut edges = Vec::new();
        for (&(file, span), call) in &self.calls {
            if !matches!(self.model.member(call.member).kind, MemberKind::Macro(_)) {
                continue;
            }
            let caller = macros.iter().copied().find(|m| {
                let decl = self.model.member(*m).decl;
                decl.file == file && decl.span.contains(span)
            });
            if let Some(caller) = caller {
                edges.push((caller, call.member, Loc { file, span }));
            }
        }
        edges.sort_by_key(|e| e.2);
        for (from, to, loc) in edges {
            let (a, b) = (node(&mut graph, from), node(&mut graph, to));
            graph.add_edge(a, b, loc);
        }
        for scc in petgraph::algo::tarjan_scc(&graph) {
            let cyclic = scc.len() > 1 || scc.iter().any(|n| graph.contains_edge(*n, *n));
            if !cyclic {
                continue;
            }
            let mut members: Vec<MemberId> = scc.iter().map(|n| graph[*n]).collect();
            members.sort();
            let names: Vec<String> = members
                .iter()
                .map(|m| {
                    format!(
                        "`{}.{}`",
                        self.model.class(self.model.member(*m).owner).name,
                        self.model.member(*m).name
                    )
                })
                .collect();
            // Report at each call that stays inside the cycle.
            for edge in graph.edge_indices() {
                let Some((a, b)) = graph.edge_endpoints(edge) else {
                    continue;
                };
                if scc.contains(&a) && scc.contains(&b) {
                    let loc = graph[edge];
                    let d = Diagnostic::new(Code::E0501, loc.file, loc.span, format!("macros call each other in a cycle: {}", names.join(" -> ")))
                        .label("this call closes the cycle")
                        .note("a macro is a finite graph of calls, so it cannot call itself, directly or through others")
                        .help("move the repeated step into a function, or fan out with `for`");
                    self.diagnostics.push(d);
                }
            }
        }
    }

    /// Warns about functions that name no way to run: no `@local`, `@url`, `@image` or
    /// `@builtin` on them, their class or its ancestors.
    fn check_runnable(&mut self) {
        let mut found = Vec::new();
        for (id, (file, ast)) in &self.member_asts {
            if *file == self.stdlib || !matches!(ast.kind, ast::MemberKind::Fn(_)) {
                continue;
            }
            let m = self.model.member(*id);
            let runs = annotations::RUNNERS
                .iter()
                .any(|r| self.model.setting(m.owner, *id, r).is_some());
            if !runs {
                let class = self.model.class(m.owner).name.clone();
                found.push(
                    Diagnostic::new(Code::W0003, *file, m.loc.span, format!("function `{class}.{}` has no way to run", m.name))
                        .label("no `@local`, `@url`, `@image` or `@builtin` applies here")
                        .help(format!("add one to the function or to class `{class}`, e.g. `@local(\"python3 functions/{}.py\")`", class.to_lowercase())),
                );
            }
        }
        self.diagnostics.extend(found);
    }
}
