//! Writing the artifact from a checked analysis and its graphs.

use super::*;
use crate::check::model::{self, ClassId, MemberId, MemberKind, Model};
use crate::check::types::Ty;
use crate::check::Analysis;
use crate::graph::{self, InvocationGraph, NodeKind, Receiver, Value};
use crate::span::{FileId, Sources};
use std::collections::HashMap;

/// Builds the artifact of every user package. Call only on an analysis without errors.
pub fn build(analysis: &Analysis, sources: &Sources, graphs: &[InvocationGraph]) -> Artifact {
    let model = &analysis.model;
    let (files, file_index) = source_files(sources);
    let emitter = Emitter {
        model,
        sources,
        file_index,
        graphs: graphs.iter().map(|g| (g.member, g)).collect(),
    };
    let record_defs = emitter.record_schemas();
    let mut packages: Vec<PackageArtifact> = model
        .packages
        .iter()
        .filter(|p| p.name != "std")
        .map(|p| PackageArtifact {
            name: p.name.clone(),
            records: p
                .records
                .values()
                .map(|rid| emitter.record(&p.name, *rid, &record_defs))
                .collect(),
            classes: p
                .classes
                .values()
                .map(|cid| emitter.class(*cid, &record_defs))
                .collect(),
        })
        .collect();
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    let mut artifact = Artifact {
        format: FORMAT.to_string(),
        version: String::new(),
        packages,
        sources: files,
    };
    artifact.version = artifact.content_hash();
    artifact
}

/// The user's source files in file order, named relative to the package's directory, and
/// each file's index among them.
fn source_files(sources: &Sources) -> (Vec<SourceFile>, HashMap<FileId, u32>) {
    let mut file_index: HashMap<FileId, u32> = HashMap::new();
    let mut files = Vec::new();
    for (id, file) in sources.iter() {
        if id == FileId(0) {
            continue;
        }
        file_index.insert(id, files.len() as u32);
        files.push(SourceFile {
            path: file.path.clone(),
            text: file.text.clone(),
        });
    }
    let root = package_dir(files.iter().map(|f| f.path.as_str()));
    for f in &mut files {
        f.path = f.path[root..].to_string();
    }
    (files, file_index)
}

/// The length of the deepest directory (with its `/`) that holds every path: the package's
/// directory, which artifact file names leave out, so that the version (a hash of the
/// content) does not depend on where the package was built from. Give it the user files'
/// paths (not the standard library's) to map an artifact's file name back to a path.
pub fn package_dir<'p>(paths: impl Iterator<Item = &'p str>) -> usize {
    let mut common: Option<&str> = None;
    for path in paths {
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        common = Some(match common {
            None => dir,
            Some(c) => {
                let same = c
                    .bytes()
                    .zip(dir.bytes())
                    .take_while(|(a, b)| a == b)
                    .count();
                // Cut at a `/` (ASCII), never inside a character.
                let cut = c.as_bytes()[..same].iter().rposition(|&b| b == b'/');
                &c[..cut.map_or(0, |i| i + 1)]
            }
        });
    }
    common.map_or(0, str::len)
}

struct Emitter<'a> {
    model: &'a Model,
    sources: &'a Sources,
    file_index: HashMap<FileId, u32>,
    graphs: HashMap<MemberId, &'a InvocationGraph>,
}

fn access(a: crate::syntax::ast::Access) -> Access {
    match a {
        crate::syntax::ast::Access::Public => Access::Public,
        crate::syntax::ast::Access::Internal => Access::Internal,
        crate::syntax::ast::Access::Private => Access::Private,
    }
}

impl Emitter<'_> {
    /// The JSON Schema of every user record, by qualified name. The standard library's
    /// records (`Error`, what a `catch` sees) are never state.
    fn record_schemas(&self) -> BTreeMap<String, serde_json::Value> {
        let model = self.model;
        model
            .records
            .iter()
            .filter(|r| model.package(r.package).name != "std")
            .map(|r| {
                let qualified = format!("{}.{}", model.package(r.package).name, r.name);
                let fields: Vec<(String, TypeRef, bool)> = r
                    .fields
                    .iter()
                    .map(|f| (f.name.clone(), self.ty(&f.ty, None), false))
                    .collect();
                let mut s = schema::of_object(&fields, &BTreeMap::new());
                if let Some(o) = s.as_object_mut() {
                    o.remove("$schema");
                }
                (qualified, s)
            })
            .collect()
    }

    /// A record of `package`, with its schema and the other records' as `$defs`.
    fn record(
        &self,
        package: &str,
        rid: model::RecordId,
        record_defs: &BTreeMap<String, serde_json::Value>,
    ) -> RecordArtifact {
        let r = self.model.record(rid);
        let qualified = format!("{package}.{}", r.name);
        let fields = r
            .fields
            .iter()
            .map(|f| FieldArtifact {
                name: f.name.clone(),
                ty: self.ty(&f.ty, None),
            })
            .collect();
        let mut schema = record_defs.get(&qualified).cloned().unwrap_or_default();
        schema["$defs"] = serde_json::Value::Object(record_defs.clone().into_iter().collect());
        RecordArtifact {
            name: r.name.clone(),
            qualified,
            fields,
            schema,
        }
    }

    fn ty(&self, ty: &Ty, self_class: Option<ClassId>) -> TypeRef {
        match ty {
            Ty::Int => TypeRef::Int,
            Ty::Float => TypeRef::Float,
            Ty::Bool => TypeRef::Bool,
            Ty::String => TypeRef::String,
            Ty::List(t) => TypeRef::List(Box::new(self.ty(t, self_class))),
            Ty::Optional(t) => TypeRef::Optional(Box::new(self.ty(t, self_class))),
            Ty::Record(r) => {
                let r = self.model.record(*r);
                TypeRef::Record(format!("{}.{}", self.model.package(r.package).name, r.name))
            }
            Ty::Class(c) | Ty::ClassRef(c) => TypeRef::Class(self.model.qualified_name(*c)),
            Ty::SelfTy => match self_class {
                Some(c) => TypeRef::Class(self.model.qualified_name(c)),
                None => TypeRef::Json,
            },
            Ty::Json | Ty::Duration | Ty::Unit | Ty::Unknown | Ty::Tolerated(_) => TypeRef::Json,
        }
    }

    fn class(
        &self,
        id: ClassId,
        record_defs: &BTreeMap<String, serde_json::Value>,
    ) -> ClassArtifact {
        let model = self.model;
        let c = model.class(id);
        let mut state = Vec::new();
        let mut files = Vec::new();
        let mut refs = Vec::new();
        let mut functions = Vec::new();
        let mut macros = Vec::new();
        for mid in &c.member_order {
            let m = model.member(*mid);
            match &m.kind {
                MemberKind::State { ty, default } => state.push(StateArtifact {
                    name: m.name.clone(),
                    ty: self.ty(ty, Some(id)),
                    default: default.clone(),
                    access: access(m.access),
                }),
                MemberKind::File { media_type } => files.push(FileArtifact {
                    name: m.name.clone(),
                    media_type: media_type.clone(),
                    access: access(m.access),
                }),
                MemberKind::Ref { ty } => {
                    let (class, many) = match ty {
                        Ty::List(t) => (self.ty(t, Some(id)), true),
                        other => (self.ty(other, Some(id)), false),
                    };
                    let class = match class {
                        TypeRef::Class(c) => c,
                        TypeRef::Optional(inner) => match *inner {
                            TypeRef::Class(c) => c,
                            _ => String::new(),
                        },
                        _ => String::new(),
                    };
                    refs.push(RefArtifact {
                        name: m.name.clone(),
                        class,
                        many,
                        access: access(m.access),
                    });
                }
                MemberKind::Fn(sig) => functions.push(self.function(id, *mid, m, sig)),
                MemberKind::Macro(sig) => macros.push(self.macro_(id, *mid, m, sig)),
            }
        }
        let fields: Vec<(String, TypeRef, bool)> = state
            .iter()
            .map(|s| (s.name.clone(), s.ty.clone(), s.default.is_some()))
            .collect();
        let state_schema = schema::of_object(&fields, record_defs);
        functions.sort_by(|a, b| a.name.cmp(&b.name));
        macros.sort_by(|a, b| a.name.cmp(&b.name));
        ClassArtifact {
            name: c.name.clone(),
            qualified: model.qualified_name(id),
            parent: c.parent.map(|p| model.qualified_name(p)),
            ancestors: model
                .ancestors(id)
                .into_iter()
                .map(|a| model.qualified_name(a))
                .collect(),
            docs: c.docs.clone(),
            state,
            state_schema,
            files,
            refs,
            functions,
            macros,
        }
    }

    fn params(&self, class: ClassId, mid: MemberId, sig: &model::Signature) -> Vec<ParamArtifact> {
        let m = self.model.member(mid);
        let is_new = Some(m.owner) == self.model.object && m.name == "new";
        if is_new {
            // `new` takes the class's state fields and refs.
            return self
                .model
                .class(class)
                .member_order
                .iter()
                .map(|id| self.model.member(*id))
                .filter_map(|f| match &f.kind {
                    MemberKind::State { ty, default } => Some(ParamArtifact {
                        name: f.name.clone(),
                        ty: self.ty(ty, Some(class)),
                        default: default.clone(),
                    }),
                    MemberKind::Ref { ty } => Some(ParamArtifact {
                        name: f.name.clone(),
                        ty: self.ty(ty, Some(class)),
                        default: Some(if matches!(ty, Ty::List(_)) {
                            serde_json::json!([])
                        } else {
                            serde_json::Value::Null
                        }),
                    }),
                    _ => None,
                })
                .collect();
        }
        sig.params
            .iter()
            .map(|p| ParamArtifact {
                name: p.name.clone(),
                ty: self.ty(&p.ty, Some(class)),
                default: p.default.clone(),
            })
            .collect()
    }

    fn run_settings(&self, class: ClassId, mid: MemberId) -> RunSettings {
        let get = |name: &str, arg: &str| {
            self.model
                .setting(class, mid, name)
                .and_then(|a| a.args.get(arg))
                .cloned()
        };
        let s = |v: Option<serde_json::Value>| v.and_then(|v| v.as_str().map(str::to_string));
        let n = |v: Option<serde_json::Value>| v.and_then(|v| v.as_u64());
        // A builtin on the member wins over a runner inherited from a class.
        let builtin = self
            .model
            .member(mid)
            .annotations
            .iter()
            .find(|a| a.name == "builtin")
            .and_then(|a| a.args.get("name"))
            .and_then(|v| v.as_str().map(str::to_string));
        RunSettings {
            local: if builtin.is_some() {
                None
            } else {
                s(get("local", "command"))
            },
            url: if builtin.is_some() {
                None
            } else {
                s(get("url", "url"))
            },
            image: if builtin.is_some() {
                None
            } else {
                s(get("image", "image"))
            },
            builtin,
            timeout_ms: n(get("timeout", "after_ms")),
            retry_attempts: n(get("retry", "attempts")),
            retry_backoff_ms: n(get("retry", "backoff_ms")),
            concurrency: n(get("concurrency", "limit")),
            memo: self
                .model
                .member(mid)
                .annotations
                .iter()
                .any(|a| a.name == "memo"),
        }
    }

    fn function(
        &self,
        class: ClassId,
        mid: MemberId,
        m: &model::Member,
        sig: &model::Signature,
    ) -> FunctionArtifact {
        FunctionArtifact {
            name: m.name.clone(),
            declared_in: self.model.qualified_name(m.owner),
            access: access(m.access),
            mutates: m.is_mut,
            is_static: m.is_static,
            params: self.params(class, mid, sig),
            returns: sig.ret.as_ref().map(|t| self.ty(t, Some(class))),
            run: self.run_settings(class, mid),
            docs: m.docs.clone(),
        }
    }

    fn macro_(
        &self,
        class: ClassId,
        mid: MemberId,
        m: &model::Member,
        sig: &model::Signature,
    ) -> MacroArtifact {
        let graph = self.graphs.get(&mid);
        MacroArtifact {
            name: m.name.clone(),
            declared_in: self.model.qualified_name(m.owner),
            access: access(m.access),
            is_static: m.is_static,
            params: self.params(class, mid, sig),
            returns: sig.ret.as_ref().map(|t| self.ty(t, Some(class))),
            depth: graph.map(|g| g.depth).unwrap_or(0),
            width: graph.map(|g| g.width).unwrap_or(0),
            timeout_ms: m
                .annotations
                .iter()
                .find(|a| a.name == "timeout")
                .and_then(|a| a.args.get("after_ms"))
                .and_then(|v| v.as_u64()),
            graph: graph
                .map(|g| self.level(g, &g.root))
                .unwrap_or(GraphArtifact {
                    nodes: Vec::new(),
                    edges: Vec::new(),
                    result: None,
                    returns: false,
                }),
            docs: m.docs.clone(),
        }
    }

    fn level(&self, g: &InvocationGraph, level: &graph::Level) -> GraphArtifact {
        let nodes = level
            .node_ids()
            .map(|id| {
                let node = g.node(id);
                let op = match &node.kind {
                    NodeKind::Call(c) => NodeOp::Call {
                        class: self.model.qualified_name(c.class),
                        function: self.model.member(c.member).name.clone(),
                        target: match &c.receiver {
                            Receiver::Object(v) => Some(value(v)),
                            Receiver::Class => None,
                        },
                        args: c.args.iter().map(|(k, v)| (k.clone(), value(v))).collect(),
                        mutates: c.mutates,
                    },
                    NodeKind::Map(m) => NodeOp::Map {
                        var: m.var.clone(),
                        over: value(&m.over),
                        filter: m.filter.as_ref().map(value),
                        tolerate: m.tolerate,
                        body: Box::new(self.level(g, &m.body)),
                    },
                    NodeKind::Compute { value: v } => NodeOp::Compute { value: value(v) },
                    NodeKind::If(n) => NodeOp::If {
                        cond: value(&n.cond),
                        then: Box::new(self.level(g, &n.then)),
                        otherwise: Box::new(self.level(g, &n.otherwise)),
                    },
                    NodeKind::Try(n) => NodeOp::Try {
                        body: Box::new(self.level(g, &n.body)),
                        var: n.var.clone(),
                        catch: Box::new(self.level(g, &n.catch)),
                    },
                    NodeKind::Wait(w) => NodeOp::Wait {
                        signal: w.signal.clone(),
                        ty: w.signal.as_ref().map(|_| self.ty(&w.ty, None)),
                        ms: w.ms,
                    },
                    NodeKind::Flatten { input } => NodeOp::Flatten {
                        input: value(input),
                    },
                };
                NodeArtifact {
                    id: id.0,
                    label: node.label.clone(),
                    op,
                    source: self.span(node.loc),
                }
            })
            .collect();
        let mut edges: Vec<EdgeArtifact> = level
            .edges()
            .map(|(a, b, k)| EdgeArtifact {
                from: a.0,
                to: b.0,
                kind: match k {
                    graph::EdgeKind::Data => "data".into(),
                    graph::EdgeKind::Order => "order".into(),
                },
            })
            .collect();
        edges.sort_by(|a, b| (a.from, a.to, &a.kind).cmp(&(b.from, b.to, &b.kind)));
        GraphArtifact {
            nodes,
            edges,
            result: level.result.as_ref().map(value),
            returns: level.returns,
        }
    }

    fn span(&self, loc: model::Loc) -> SourceSpan {
        let f = self.sources.get(loc.file);
        let start = f.lines.line_col(&f.text, loc.span.start as usize);
        let end = f.lines.line_col(&f.text, loc.span.end as usize);
        SourceSpan {
            file: self.file_index.get(&loc.file).copied().unwrap_or(0),
            line: start.line,
            column: start.column,
            end_line: end.line,
            end_column: end.column,
            start: loc.span.start,
            end: loc.span.end,
            text: f.slice(loc.span).to_string(),
        }
    }
}

fn value(v: &Value) -> ValueRef {
    match v {
        Value::Const(c) => ValueRef::Const(c.clone()),
        Value::SelfObj => ValueRef::SelfObj,
        Value::Param(p) => ValueRef::Param(p.clone()),
        Value::Var(x) => ValueRef::Var(x.clone()),
        Value::Node(n) => ValueRef::Node(n.0),
        Value::Field { of, name } => ValueRef::Field {
            of: Box::new(value(of)),
            name: name.clone(),
        },
        Value::List(items) => ValueRef::List(items.iter().map(value).collect()),
        Value::Object(items) => {
            ValueRef::Object(items.iter().map(|(k, v)| (k.clone(), value(v))).collect())
        }
        Value::Op { op, args } => ValueRef::Op {
            op: op.clone(),
            args: args.iter().map(value).collect(),
        },
    }
}
