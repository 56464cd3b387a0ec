//! Checking a workspace: parse every file, group files into packages, resolve names, check
//! types, access, inheritance and mutability. Produces the [`Analysis`] that the graph
//! builder, the artifact writer and the language server read.
//!
//! Steps, in order: [`collect`] builds the [`Model`] (declarations, `use`, parents, written
//! types, overrides, annotations, defaults); [`body`] checks macro bodies; then whole-package
//! rules (macro recursion, functions with no way to run).

pub mod annotations;
mod body;
pub use body::waits::{valid_signal_name, MAX_SIGNAL_NAME, MAX_WAIT_MS};
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
    pub files: Vec<(FileId, std::sync::Arc<ast::File>)>,
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
    /// Where each member's syntax is: indexes into `files`, its items and the class's members.
    member_paths: HashMap<MemberId, (usize, usize, usize)>,
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
        match self.files.get(id.0 as usize) {
            Some((f, ast)) if *f == id => Some(ast),
            _ => self.files.iter().find(|(f, _)| *f == id).map(|(_, a)| &**a),
        }
    }

    /// The syntax of a member (for macro bodies).
    pub fn member_ast(&self, id: MemberId) -> Option<&ast::Member> {
        let &(file, item, member) = self.member_paths.get(&id)?;
        match self.files.get(file)?.1.items.get(item)? {
            ast::Item::Class(c) => c.members.get(member),
            _ => None,
        }
    }
}

/// Finds each member's place in the trees, by the span of its name.
fn member_paths(
    files: &[(FileId, std::sync::Arc<ast::File>)],
    model: &Model,
) -> HashMap<MemberId, (usize, usize, usize)> {
    let mut by_name: HashMap<(FileId, Span), (usize, usize, usize)> = HashMap::new();
    for (fi, (file, tree)) in files.iter().enumerate() {
        for (ii, item) in tree.items.iter().enumerate() {
            if let ast::Item::Class(c) = item {
                for (mi, m) in c.members.iter().enumerate() {
                    by_name.insert((*file, m.name.span), (fi, ii, mi));
                }
            }
        }
    }
    model
        .members
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            let path = by_name.get(&(m.loc.file, m.loc.span))?;
            Some((MemberId(i as u32), *path))
        })
        .collect()
}

/// Parses and checks all files of `sources`. File 0 is taken to be the standard library.
pub fn analyze(sources: &Sources) -> Analysis {
    analyze_reusing(sources, &syntax::ParseCache::default())
}

/// Like [`analyze`], parsing only what changed since the parses kept in `cache` (which it
/// updates): the language server checks on every keystroke this way.
pub fn analyze_cached(sources: &Sources, cache: &mut syntax::ParseCache) -> Analysis {
    let parsed = parse_reusing(sources, cache);
    for (id, p) in &parsed {
        let file = sources.get(*id);
        cache.store(*id, &file.path, &file.text, p);
    }
    let paths: std::collections::HashSet<&str> =
        sources.iter().map(|(_, f)| f.path.as_str()).collect();
    cache.retain(|path| paths.contains(path));
    check_parsed(sources, parsed)
}

/// Like [`analyze_cached`], leaving `cache` as it is: for a check of a text that will not be
/// edited further (a completion's patched copy).
pub fn analyze_reusing(sources: &Sources, cache: &syntax::ParseCache) -> Analysis {
    check_parsed(sources, parse_reusing(sources, cache))
}

/// Every file's parse, from `cache` where it can be, parsing the others (on threads when
/// there is much of them).
fn parse_reusing(sources: &Sources, cache: &syntax::ParseCache) -> Vec<(FileId, syntax::Parsed)> {
    let mut parsed: Vec<Option<(FileId, syntax::Parsed)>> = Vec::with_capacity(sources.len());
    let mut missing: Vec<(FileId, &str)> = Vec::new();
    for (id, file) in sources.iter() {
        match cache.lookup(id, &file.path, &file.text).0 {
            Some(p) => parsed.push(Some((id, p))),
            None => {
                parsed.push(None);
                missing.push((id, file.text.as_str()));
            }
        }
    }
    let mut fresh = parse_all(&missing).into_iter();
    parsed
        .into_iter()
        .filter_map(|p| p.or_else(|| fresh.next()))
        .collect()
}

/// Checks parsed files (all of `sources`, in order).
fn check_parsed(sources: &Sources, parsed: Vec<(FileId, syntax::Parsed)>) -> Analysis {
    let mut diagnostics = Vec::new();
    let mut files = Vec::with_capacity(parsed.len());
    for (id, parsed) in parsed {
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
        std_package: None,
        class_asts: BTreeMap::new(),
        record_asts: BTreeMap::new(),
        member_asts: BTreeMap::new(),
        calls: HashMap::new(),
        macro_calls: Vec::new(),
        expr_types: HashMap::new(),
        references: Vec::new(),
    };
    checker.collect();
    checker.check_bodies();
    checker.check_macro_recursion();
    checker.check_runnable();
    checker.check_memo();
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
    let member_paths = member_paths(&files, &model);
    Analysis {
        files,
        diagnostics,
        model,
        calls,
        expr_types,
        references,
        member_paths,
    }
}

/// Below this much source text, parsing on several threads does not pay for the threads.
const PARALLEL_PARSE_BYTES: usize = 256 * 1024;

/// Parses every file, in file order. Parsing is most of a check's time and files are
/// independent, so large workspaces are parsed on up to one thread per core.
fn parse_all(all: &[(FileId, &str)]) -> Vec<(FileId, syntax::Parsed)> {
    let bytes: usize = all.iter().map(|(_, t)| t.len()).sum();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(all.len());
    let parse = |chunk: &[(FileId, &str)]| -> Vec<(FileId, syntax::Parsed)> {
        chunk
            .iter()
            .map(|(id, text)| (*id, syntax::parse(*id, text)))
            .collect()
    };
    if threads < 2 || bytes < PARALLEL_PARSE_BYTES {
        return parse(all);
    }
    // Interleaved chunks would balance better, but contiguous ones keep the order trivial;
    // files are split by size so each thread gets a similar share of text.
    let share = bytes.div_ceil(threads);
    let mut chunks: Vec<&[(FileId, &str)]> = Vec::with_capacity(threads);
    let (mut start, mut size) = (0, 0);
    for (i, (_, text)) in all.iter().enumerate() {
        size += text.len();
        if size >= share && chunks.len() + 1 < threads {
            chunks.push(&all[start..=i]);
            (start, size) = (i + 1, 0);
        }
    }
    chunks.push(&all[start..]);
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| scope.spawn(|| parse(chunk)))
            .collect();
        let mut out = Vec::with_capacity(all.len());
        for handle in handles {
            // A panic in a parse (a bug) goes on in this thread, as it would without threads.
            out.extend(
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
        out
    })
}

/// The state of one check run.
pub(crate) struct Checker<'a> {
    sources: &'a Sources,
    files: &'a [(FileId, std::sync::Arc<ast::File>)],
    stdlib: FileId,
    model: Model,
    diagnostics: Vec<Diagnostic>,
    scopes: HashMap<FileId, collect::FileScope>,
    /// The standard library's package, once declared.
    std_package: Option<PackageId>,
    class_asts: BTreeMap<ClassId, (FileId, &'a ast::ClassDecl)>,
    record_asts: BTreeMap<RecordId, (FileId, &'a ast::RecordDecl)>,
    member_asts: BTreeMap<MemberId, (FileId, &'a ast::Member)>,
    calls: HashMap<(FileId, Span), ResolvedCall>,
    /// Calls of macros from macros: (caller, callee, the call), for the recursion check.
    macro_calls: Vec<(MemberId, MemberId, Loc)>,
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
        // An edge is a call at a place, or (no place) a call of a macro that may run one of
        // its overrides: calls dispatch on the class of the object at run time.
        let mut graph = DiGraph::<MemberId, Option<Loc>>::new();
        let mut nodes = HashMap::new();
        let mut node = |g: &mut DiGraph<MemberId, Option<Loc>>, m: MemberId| {
            *nodes.entry(m).or_insert_with(|| g.add_node(m))
        };
        let mut edges = std::mem::take(&mut self.macro_calls);
        edges.sort_by_key(|e| e.2);
        for (from, to, loc) in edges {
            let (a, b) = (node(&mut graph, from), node(&mut graph, to));
            graph.add_edge(a, b, Some(loc));
        }
        for (i, m) in self.model.members.iter().enumerate() {
            if let (Some(base), MemberKind::Macro(_)) = (m.overrides, &m.kind) {
                let (a, b) = (node(&mut graph, base), node(&mut graph, MemberId(i as u32)));
                graph.add_edge(a, b, None);
            }
        }
        let sccs = petgraph::algo::tarjan_scc(&graph);
        // Each node's component, and for each cyclic component the text naming its macros.
        let mut component = vec![0; graph.node_count()];
        let mut cycle_names: Vec<Option<String>> = Vec::with_capacity(sccs.len());
        for (i, scc) in sccs.iter().enumerate() {
            for n in scc {
                component[n.index()] = i;
            }
            let cyclic = scc.len() > 1 || scc.iter().any(|n| graph.contains_edge(*n, *n));
            cycle_names.push(cyclic.then(|| {
                let mut members: Vec<MemberId> = scc.iter().map(|n| graph[*n]).collect();
                members.sort();
                members
                    .iter()
                    .map(|m| {
                        let m = self.model.member(*m);
                        format!("`{}.{}`", self.model.class(m.owner).name, m.name)
                    })
                    .collect::<Vec<_>>()
                    .join(" -> ")
            }));
        }
        // Report at each call that stays inside a cycle.
        for edge in graph.edge_indices() {
            let Some((a, b)) = graph.edge_endpoints(edge) else {
                continue;
            };
            let c = component[a.index()];
            let Some(names) = cycle_names[c]
                .as_ref()
                .filter(|_| component[b.index()] == c)
            else {
                continue;
            };
            // Dispatch to an override has no call of its own to point at; the calls of the
            // cycle are reported.
            let Some(loc) = graph[edge] else {
                continue;
            };
            let d = Diagnostic::new(
                Code::E0501,
                loc.file,
                loc.span,
                format!("macros call each other in a cycle: {names}"),
            )
            .label("this call closes the cycle")
            .note("a macro is a finite graph of calls, so it cannot call itself, directly or through others")
            .help("move the repeated step into a function, or fan out with `for`");
            self.diagnostics.push(d);
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
            // `@builtin` counts on the function only: `Object` carries one for its own
            // functions, and every class inherits from `Object`.
            let runs = annotations::RUNNERS.iter().any(|r| {
                if *r == "builtin" {
                    m.annotations.iter().any(|a| a.name == *r)
                } else {
                    self.model.setting(m.owner, *id, r).is_some()
                }
            });
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

    /// Refuses `@memo` where a recorded result could not stand for a new call: on a `mut`
    /// function (each call writes a new version of its object) and on one with `@effect`
    /// (each call acts outside the platform).
    fn check_memo(&mut self) {
        let mut found = Vec::new();
        for (id, (file, _)) in &self.member_asts {
            let m = self.model.member(*id);
            let Some(memo) = m.annotations.iter().find(|a| a.name == "memo") else {
                continue;
            };
            let why = if m.is_mut {
                "a `mut` function writes a new version of its object on every call"
            } else if self.model.setting(m.owner, *id, "effect").is_some() {
                "an `@effect` function acts outside the platform on every call"
            } else {
                continue;
            };
            let class = self.model.class(m.owner).name.clone();
            found.push(
                Diagnostic::new(
                    Code::E0502,
                    *file,
                    memo.loc.span,
                    format!("`{class}.{}` cannot be memoized", m.name),
                )
                .label("`@memo` here")
                .note(format!(
                    "{why}, so a recorded result cannot answer for the next one"
                ))
                .help("remove `@memo`, or split the pure part into a function of its own"),
            );
        }
        self.diagnostics.extend(found);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Large workspaces are parsed on several threads: the result must be the serial one, in
    /// file order.
    #[test]
    fn parsing_on_threads_keeps_file_order_and_results() {
        let mut sources = Sources::new();
        let mut total = 0;
        let mut i = 0;
        while total <= PARALLEL_PARSE_BYTES {
            let mut text = format!("package p{i}\n");
            for j in 0..200 {
                text.push_str(&format!(
                    "record R{j} {{ a: int, b: [string] }}\nclass C{j} {{ public state s: int = {j} }}\n"
                ));
            }
            if i % 7 == 3 {
                text.push_str("class Broken {\n  state x int\n}\n");
            }
            total += text.len();
            sources.add(format!("p{i}/f.oaas"), text);
            i += 1;
        }
        let all: Vec<(FileId, &str)> = sources
            .iter()
            .map(|(id, f)| (id, f.text.as_str()))
            .collect();
        let parsed = parse_all(&all);
        assert_eq!(parsed.len(), sources.len());
        for ((id, p), (expected_id, file)) in parsed.iter().zip(sources.iter()) {
            assert_eq!(*id, expected_id);
            let serial = syntax::parse(expected_id, &file.text);
            assert_eq!(p.ast, serial.ast);
            assert_eq!(p.diagnostics, serial.diagnostics);
        }
        assert!(parsed.iter().any(|(_, p)| !p.diagnostics.is_empty()));
    }
}
