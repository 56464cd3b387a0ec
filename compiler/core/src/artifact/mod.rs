//! The package artifact: what `oaasc build` writes and the runtime executes. Versioned,
//! deterministic JSON holding resolved classes (inheritance flattened), records, functions
//! with their run settings, macros with their invocation graphs, a source map, and a content
//! hash that is the package version. Documented in `docs/artifact.md`.
//!
//! The runtime depends on these types, never on the checker's internals.

mod emit;
pub mod knative;
pub mod schema;

pub use emit::{build, package_dir};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The format tag written into every artifact.
pub const FORMAT: &str = "oaas-artifact/1";

/// A built set of packages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// [`FORMAT`].
    pub format: String,
    /// `sha256:` of the artifact's JSON with this field empty: the package version.
    pub version: String,
    /// The user packages (the standard library's `Object` builtins are flattened into classes).
    pub packages: Vec<PackageArtifact>,
    /// Source files named by the source map.
    pub sources: Vec<SourceFile>,
}

/// One package.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PackageArtifact {
    /// `video`.
    pub name: String,
    /// Records by name.
    pub records: Vec<RecordArtifact>,
    /// Classes by name.
    pub classes: Vec<ClassArtifact>,
}

/// A record type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordArtifact {
    /// `Face`.
    pub name: String,
    /// `video.Face`.
    pub qualified: String,
    /// Fields in order.
    pub fields: Vec<FieldArtifact>,
    /// JSON Schema of a value of the record.
    pub schema: serde_json::Value,
}

/// A record field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldArtifact {
    /// Name.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub ty: TypeRef,
}

/// A type, with classes and records named `package.Name`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypeRef {
    /// `int`.
    Int,
    /// `float`.
    Float,
    /// `bool`.
    Bool,
    /// `string`.
    String,
    /// Any JSON.
    Json,
    /// `[T]`.
    List(Box<TypeRef>),
    /// `T?`.
    Optional(Box<TypeRef>),
    /// A record value.
    Record(String),
    /// An object id of this class or a subclass.
    Class(String),
}

impl TypeRef {
    /// Whether values of this type are, or hold, object ids (`C`, `[C]`, `C?`, nested).
    pub fn holds_objects(&self) -> bool {
        match self {
            TypeRef::Class(_) => true,
            TypeRef::List(inner) | TypeRef::Optional(inner) => inner.holds_objects(),
            _ => false,
        }
    }
}

/// Who may reach a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Anyone, through the object access interface.
    Public,
    /// Macros and functions of the same package.
    Internal,
    /// Macros of the same class and its subclasses.
    Private,
}

/// A class with everything it inherits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassArtifact {
    /// `Video`.
    pub name: String,
    /// `video.Video`.
    pub qualified: String,
    /// The parent, qualified (`std.Object` for classes that name none).
    pub parent: Option<String>,
    /// The class, its parent, ... up to `std.Object`.
    pub ancestors: Vec<String>,
    /// Doc comment.
    pub docs: Option<String>,
    /// Structured state fields.
    pub state: Vec<StateArtifact>,
    /// JSON Schema of the whole state object.
    pub state_schema: serde_json::Value,
    /// Files.
    pub files: Vec<FileArtifact>,
    /// References to other objects.
    pub refs: Vec<RefArtifact>,
    /// Task functions (builtins included), by name.
    pub functions: Vec<FunctionArtifact>,
    /// Macros, by name.
    pub macros: Vec<MacroArtifact>,
}

/// How a default is written: `"default": null` has meant "none" since the first format, so a
/// default that *is* `null` (`state j: json = null`) adds `"default_is_null": true`. Without it
/// such a default was lost on the way through JSON, and the field became required once the
/// runtime read its package back (after a restart). Artifacts without it read as before.
/// Used flattened, in place of the `default` field, so the keys keep their order.
mod default_value {
    use serde::ser::SerializeMap;
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_json::Value;

    /// The keys as written.
    #[derive(Deserialize)]
    struct Written {
        default: Option<Value>,
        #[serde(default)]
        default_is_null: bool,
    }

    /// Writes `default`, and `default_is_null` when the default is `null`.
    pub fn serialize<S: Serializer>(default: &Option<Value>, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("default", default)?;
        if *default == Some(Value::Null) {
            map.serialize_entry("default_is_null", &true)?;
        }
        map.end()
    }

    /// Reads `default`: `null` is none unless `default_is_null` says otherwise.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
        let written = Written::deserialize(d)?;
        Ok(if written.default_is_null {
            Some(Value::Null)
        } else {
            written.default
        })
    }
}

/// A state field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateArtifact {
    /// Name.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub ty: TypeRef,
    /// Default value; fields without one (and not optional) are required by `new`.
    #[serde(flatten, with = "default_value")]
    pub default: Option<serde_json::Value>,
    /// Who may read it.
    pub access: Access,
}

/// A file member.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileArtifact {
    /// Name.
    pub name: String,
    /// Media type, if declared.
    pub media_type: Option<String>,
    /// Who may read it.
    pub access: Access,
}

/// A ref member.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefArtifact {
    /// Name.
    pub name: String,
    /// The class referred to, qualified.
    pub class: String,
    /// A list of references rather than one.
    pub many: bool,
    /// Who may read it.
    pub access: Access,
}

/// A parameter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamArtifact {
    /// Name.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub ty: TypeRef,
    /// Default; parameters without one are required.
    #[serde(flatten, with = "default_value")]
    pub default: Option<serde_json::Value>,
}

/// How a function runs, from annotations on it, its class and the class's ancestors.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// Performed by the runtime itself: `new`, `get`, `update`, `copy`, `delete`, `file`.
    pub builtin: Option<String>,
    /// Command starting the container on one machine (`PORT` is set).
    pub local: Option<String>,
    /// Address of a running container.
    pub url: Option<String>,
    /// Container image for clusters.
    pub image: Option<String>,
    /// Longest a call may take.
    pub timeout_ms: Option<u64>,
    /// Tries after the first failure.
    pub retry_attempts: Option<u64>,
    /// First wait between tries (doubling after each).
    pub retry_backoff_ms: Option<u64>,
    /// Calls at once.
    pub concurrency: Option<u64>,
    /// `@memo`: a call on the same inputs (package version, object version, arguments,
    /// versions of the objects passed in) answers with the first call's recorded result.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub memo: bool,
}

/// A task function.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionArtifact {
    /// Name.
    pub name: String,
    /// The class that declares it (an ancestor for inherited functions).
    pub declared_in: String,
    /// Who may call it.
    pub access: Access,
    /// Changes its object (writes the next version).
    #[serde(rename = "mut")]
    pub mutates: bool,
    /// Called on the class, with no object.
    #[serde(rename = "static")]
    pub is_static: bool,
    /// Parameters (for `new`: the class's state fields and refs).
    pub params: Vec<ParamArtifact>,
    /// Result type; `None` for functions without one.
    pub returns: Option<TypeRef>,
    /// How it runs.
    pub run: RunSettings,
    /// Doc comment.
    pub docs: Option<String>,
}

/// A macro with its graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MacroArtifact {
    /// Name.
    pub name: String,
    /// The class that declares it.
    pub declared_in: String,
    /// Who may call it.
    pub access: Access,
    /// Called on the class, with no object.
    #[serde(rename = "static")]
    pub is_static: bool,
    /// Parameters.
    pub params: Vec<ParamArtifact>,
    /// Result type.
    pub returns: Option<TypeRef>,
    /// Longest chain of calls.
    pub depth: usize,
    /// Most calls at one step of the top level.
    pub width: usize,
    /// Longest a whole run may take, if set with `@timeout`.
    pub timeout_ms: Option<u64>,
    /// The dataflow.
    pub graph: GraphArtifact,
    /// Doc comment.
    pub docs: Option<String>,
}

/// One level of an invocation graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphArtifact {
    /// Nodes, in source order.
    pub nodes: Vec<NodeArtifact>,
    /// Dependencies between nodes of this level.
    pub edges: Vec<EdgeArtifact>,
    /// The level's value: the macro's result, or a `for` body's value per element, or the
    /// value of a block of an `if` or `try`.
    pub result: Option<ValueRef>,
    /// A block that ends with `return`: its result is the macro's, and the nodes after the
    /// `if` or `try` holding it do not run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub returns: bool,
}

/// An edge: `to` waits for `from`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeArtifact {
    /// The earlier node.
    pub from: u32,
    /// The later node.
    pub to: u32,
    /// `data` (uses its output) or `order` (same object, kept in source order).
    pub kind: String,
}

/// A node of an invocation graph. Ids are unique across all levels of one macro.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeArtifact {
    /// Id, unique within the macro.
    pub id: u32,
    /// Short label: `p.extract_frames(every_s)`.
    pub label: String,
    /// What it does.
    #[serde(flatten)]
    pub op: NodeOp,
    /// Where it is in the source.
    pub source: SourceSpan,
}

/// What a node does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum NodeOp {
    /// Call a function or macro.
    Call {
        /// The class it is looked up on (dispatch follows the object's real class).
        class: String,
        /// The function or macro.
        function: String,
        /// The object called on; `None` for static calls.
        target: Option<ValueRef>,
        /// Arguments by parameter name.
        args: BTreeMap<String, ValueRef>,
        /// A `mut` call.
        #[serde(rename = "mut")]
        mutates: bool,
    },
    /// Run the body once per element of `over`, with the element bound to `var`.
    Map {
        /// Loop variable.
        var: String,
        /// The list.
        over: ValueRef,
        /// `for x in xs if cond`: elements for which it is false are left out of the run and
        /// of the result.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filter: Option<ValueRef>,
        /// `for x in xs tolerate N`: up to that many (or that share of the elements run)
        /// may fail; the output is then `{"ok": [results], "failed": [reports]}`, each report
        /// `{index, element, code, message, node}`. More failures fail the node.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tolerate: Option<crate::syntax::ast::Tolerance>,
        /// The body.
        body: Box<GraphArtifact>,
    },
    /// A value the runtime computes itself.
    Compute {
        /// The value (operators in [`ValueRef::Op`]).
        value: ValueRef,
    },
    /// A decision: `then` runs when `cond` is true, else `otherwise`; the other one's nodes
    /// are skipped. Its output is the result of the block that ran.
    If {
        /// The condition.
        cond: ValueRef,
        /// The block run when it holds.
        then: Box<GraphArtifact>,
        /// The block run otherwise (no nodes without `else`).
        otherwise: Box<GraphArtifact>,
    },
    /// `try`/`catch`: `body` runs; when one of its nodes fails, `catch` runs with the error
    /// (`{code, message, node}`) bound to `var`. Its output is the result of the block that
    /// finished.
    Try {
        /// The calls tried.
        body: Box<GraphArtifact>,
        /// The error's name in `catch`.
        var: String,
        /// The failure handler.
        catch: Box<GraphArtifact>,
    },
    /// A durable wait: for the signal `signal` sent to the invocation, failing with a
    /// timeout after `ms`; or, without `signal`, for `ms` (`sleep`). Its output is the
    /// signal's value (null for `sleep`). It runs after every earlier node of its level and
    /// before every later one (the graph's `order` edges say so).
    Wait {
        /// The signal's name; none for `sleep`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal: Option<String>,
        /// The type of the signal's value.
        #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
        ty: Option<TypeRef>,
        /// The sleep, or the signal's timeout, in milliseconds.
        ms: u64,
    },
    /// Join a list of lists.
    Flatten {
        /// The list of lists.
        input: ValueRef,
    },
}

/// How a value is obtained at run time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueRef {
    /// A constant.
    Const(serde_json::Value),
    /// The macro's object.
    #[serde(rename = "self")]
    SelfObj,
    /// A macro parameter.
    Param(String),
    /// The element bound by an enclosing `for`.
    Var(String),
    /// A node's output (an object id, a list of them, or a value).
    Node(u32),
    /// A field of a value (an object's state or ref, a record's field).
    Field {
        /// The value read from.
        of: Box<ValueRef>,
        /// The field.
        name: String,
    },
    /// A list of values.
    List(Vec<ValueRef>),
    /// A JSON object of values.
    Object(BTreeMap<String, ValueRef>),
    /// An operator or value builtin on values: `+ - * / %`, `== != < <= > >=`, `and`, `or`,
    /// `not`, `neg`, `len`, `sum`, `min`, `max`, and `format` (an interpolated string: its
    /// pieces joined, values written out as `+` on strings writes them).
    Op {
        /// The operator.
        op: String,
        /// Its operands.
        args: Vec<ValueRef>,
    },
}

/// Where a node is in the source, to report a failure at its line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceSpan {
    /// Index into [`Artifact::sources`].
    pub file: u32,
    /// 1-based start line.
    pub line: u32,
    /// 1-based start column (characters).
    pub column: u32,
    /// 1-based end line.
    pub end_line: u32,
    /// End column (exclusive).
    pub end_column: u32,
    /// Byte offsets into the file.
    pub start: u32,
    /// End byte offset.
    pub end: u32,
    /// The source text of the node.
    pub text: String,
}

/// A source file of the artifact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    /// Path as given to the compiler.
    pub path: String,
    /// The whole text, so a runtime error can be drawn at its line without the files at hand.
    pub text: String,
}

impl Artifact {
    /// Finds a class by qualified name (`video.Video`).
    pub fn class(&self, qualified: &str) -> Option<&ClassArtifact> {
        self.packages
            .iter()
            .flat_map(|p| &p.classes)
            .find(|c| c.qualified == qualified)
    }

    /// Finds a class by name, qualified or, when unambiguous, bare (`Video`).
    pub fn find_class(&self, name: &str) -> Option<&ClassArtifact> {
        if let Some(c) = self.class(name) {
            return Some(c);
        }
        let mut found = self
            .packages
            .iter()
            .flat_map(|p| &p.classes)
            .filter(|c| c.name == name);
        let first = found.next()?;
        found.next().is_none().then_some(first)
    }

    /// The qualified name of the class whose name is a likely typo of `name`: compared with
    /// qualified names when `name` has a package (`video.Vidoe`), else with bare ones.
    pub fn closest_class(&self, name: &str) -> Option<&str> {
        fn label(c: &ClassArtifact, qualified: bool) -> &str {
            if qualified {
                &c.qualified
            } else {
                &c.name
            }
        }
        let classes = || self.packages.iter().flat_map(|p| &p.classes);
        let qualified = name.contains('.');
        let near = crate::check::suggest::closest(name, classes().map(|c| label(c, qualified)))?;
        classes()
            .find(|c| label(c, qualified) == near)
            .map(|c| c.qualified.as_str())
    }

    /// Deterministic JSON text of the artifact (pretty, newline-terminated).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Parses an artifact and checks its format tag and content hash.
    pub fn from_json(text: &str) -> Result<Artifact, String> {
        let artifact: Artifact =
            serde_json::from_str(text).map_err(|e| format!("not a package artifact: {e}"))?;
        if artifact.format != FORMAT {
            return Err(format!(
                "artifact format `{}` is not supported (expected `{FORMAT}`)",
                artifact.format
            ));
        }
        let expected = artifact.content_hash();
        if artifact.version != expected {
            return Err(format!(
                "artifact content does not match its version `{}`",
                artifact.version
            ));
        }
        Ok(artifact)
    }

    /// The hash of the artifact with an empty version field.
    pub fn content_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut copy = self.clone();
        copy.version = String::new();
        let bytes = serde_json::to_vec(&copy).unwrap_or_default();
        format!("sha256:{:x}", Sha256::digest(&bytes))
    }
}

impl ClassArtifact {
    /// A function by name.
    pub fn function(&self, name: &str) -> Option<&FunctionArtifact> {
        self.functions.iter().find(|f| f.name == name)
    }

    /// A macro by name.
    pub fn macro_named(&self, name: &str) -> Option<&MacroArtifact> {
        self.macros.iter().find(|m| m.name == name)
    }

    /// The names of its functions, then of its macros.
    pub fn callable_names(&self) -> Vec<&str> {
        let functions = self.functions.iter().map(|f| f.name.as_str());
        functions
            .chain(self.macros.iter().map(|m| m.name.as_str()))
            .collect()
    }

    /// ` (did you mean `put`?)` when one of its functions or macros is a likely typo away
    /// from `name`, for the message that says it has no `name`; empty otherwise.
    pub fn did_you_mean(&self, name: &str) -> String {
        use crate::check::suggest;
        suggest::did_you_mean(suggest::closest(name, self.callable_names()))
    }
}

#[cfg(test)]
mod tests {
    use super::TypeRef;

    /// Found by the `pipeline` fuzz target: a default of `null` read back from JSON as no
    /// default, so `j` became required after a restart of the runtime.
    #[test]
    fn a_null_default_survives_json_and_no_default_stays_none() {
        let text = "package p\n@url(\"http://127.0.0.1:9\")\nclass C {\n  public state j: json = null\n  public state k: json\n  ref next: C?\n  public fn f(x: json = null, y: json) -> int\n}\n";
        let mut workspace = crate::Workspace::new();
        workspace.add_file("p.oaas", text);
        let artifact = workspace.build().artifact.expect("it checks");
        let back = super::Artifact::from_json(&artifact.to_json()).expect("it reads back");
        assert_eq!(back, artifact);
        let class = back.find_class("C").expect("class C");
        let defaults = |params: &[super::ParamArtifact]| {
            params
                .iter()
                .map(|p| (p.name.clone(), p.default.clone()))
                .collect::<Vec<_>>()
        };
        let f = class.function("f").expect("f");
        let null = Some(serde_json::Value::Null);
        assert_eq!(
            defaults(&f.params),
            [("x".to_string(), null.clone()), ("y".to_string(), None)]
        );
        let new = class.function("new").expect("new");
        assert_eq!(
            defaults(&new.params),
            [
                ("j".to_string(), null.clone()),
                ("k".to_string(), None),
                ("next".to_string(), null.clone())
            ]
        );
        assert_eq!(class.state[0].default, null);
        assert_eq!(class.state[1].default, None);
    }

    /// An artifact written before `default_is_null` reads as it always did: `null` is none.
    #[test]
    fn an_older_artifacts_null_default_is_still_none() {
        let old = r#"{"name": "x", "type": "json", "default": null}"#;
        let param: super::ParamArtifact = serde_json::from_str(old).expect("a parameter");
        assert_eq!(param.default, None);
        let again = serde_json::to_string(&param).expect("written");
        assert_eq!(again, r#"{"name":"x","type":"json","default":null}"#);
    }

    #[test]
    fn a_missing_function_is_told_its_closest_name() {
        let text = "package p\n@url(\"http://127.0.0.1:9\")\nclass C {\n  public fn increment() -> int\n  public fn read() -> int\n}\n";
        let mut workspace = crate::Workspace::new();
        workspace.add_file("p.oaas", text);
        let artifact = workspace.build().artifact.expect("it checks");
        let class = artifact.find_class("C").expect("class C");
        assert_eq!(
            class.did_you_mean("incremnt"),
            " (did you mean `increment`?)"
        );
        assert_eq!(class.did_you_mean("Read"), " (did you mean `read`?)");
        assert_eq!(class.did_you_mean("transcode"), "");
        assert_eq!(artifact.closest_class("c"), Some("p.C"));
        assert_eq!(artifact.closest_class("p.X"), Some("p.C"));
        assert_eq!(artifact.closest_class("Video"), None);
    }

    #[test]
    fn a_type_holds_objects_when_a_class_is_in_it_at_any_depth() {
        let class = || Box::new(TypeRef::Class("p.C".into()));
        assert!(TypeRef::Class("p.C".into()).holds_objects());
        assert!(TypeRef::List(Box::new(TypeRef::Optional(class()))).holds_objects());
        assert!(!TypeRef::List(Box::new(TypeRef::Record("p.R".into()))).holds_objects());
        assert!(!TypeRef::Optional(Box::new(TypeRef::Json)).holds_objects());
    }
}
