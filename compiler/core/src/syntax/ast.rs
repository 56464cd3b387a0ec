//! The syntax tree of one `.oaas` file. Every node carries its byte [`Span`]; nothing here
//! knows about pest.

use crate::span::Span;
use serde::Serialize;

/// A name as written, with where it was written.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Ident {
    /// The text.
    pub name: String,
    /// Where.
    pub span: Span,
}

/// A parsed file. Broken parts are absent from the tree and reported as diagnostics.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct File {
    /// `package NAME`, if present.
    pub package: Option<Ident>,
    /// `use`, `record` and `class` declarations in order.
    pub items: Vec<Item>,
    /// The whole file.
    pub span: Span,
}

impl File {
    /// The classes of the file.
    pub fn classes(&self) -> impl Iterator<Item = &ClassDecl> {
        self.items.iter().filter_map(|i| match i {
            Item::Class(c) => Some(c),
            _ => None,
        })
    }

    /// The records of the file.
    pub fn records(&self) -> impl Iterator<Item = &RecordDecl> {
        self.items.iter().filter_map(|i| match i {
            Item::Record(r) => Some(r),
            _ => None,
        })
    }

    /// The `use` declarations of the file.
    pub fn uses(&self) -> impl Iterator<Item = &UseDecl> {
        self.items.iter().filter_map(|i| match i {
            Item::Use(u) => Some(u),
            _ => None,
        })
    }
}

/// A top-level declaration.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "item")]
pub enum Item {
    /// `use pkg.Class`
    Use(UseDecl),
    /// `record Name { ... }`
    Record(RecordDecl),
    /// `class Name { ... }`
    Class(ClassDecl),
}

impl Item {
    /// The span of the declaration.
    pub fn span(&self) -> Span {
        match self {
            Item::Use(u) => u.span,
            Item::Record(r) => r.span,
            Item::Class(c) => c.span,
        }
    }
}

/// `use video.Video`: brings another package's class into scope.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UseDecl {
    /// The package part (`video`); more than one segment is kept for the checker to judge.
    pub package: Vec<Ident>,
    /// The class name (`Video`).
    pub name: Ident,
    /// The whole declaration.
    pub span: Span,
}

/// `///` lines right above a declaration, joined with newlines, markers stripped.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Docs {
    /// The text.
    pub text: String,
    /// The comment lines.
    pub span: Span,
}

/// `@name(args)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Annotation {
    /// The name without `@`.
    pub name: Ident,
    /// Positional and named arguments.
    pub args: Vec<Arg>,
    /// From `@` to `)`.
    pub span: Span,
}

/// `record Name { field: Type, ... }`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecordDecl {
    /// Doc comment.
    pub docs: Option<Docs>,
    /// Annotations (none are defined for records; the checker reports them).
    pub annotations: Vec<Annotation>,
    /// The name.
    pub name: Ident,
    /// The fields in order.
    pub fields: Vec<RecordField>,
    /// The whole declaration.
    pub span: Span,
}

/// One `name: Type` of a record.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecordField {
    /// Field name.
    pub name: Ident,
    /// Field type.
    pub ty: TypeExpr,
    /// `name: Type`.
    pub span: Span,
}

/// `class Name extends Parent { members }`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassDecl {
    /// Doc comment.
    pub docs: Option<Docs>,
    /// Class-level annotations (defaults for its functions).
    pub annotations: Vec<Annotation>,
    /// The name.
    pub name: Ident,
    /// `extends Parent`.
    pub parent: Option<Ident>,
    /// Members in order.
    pub members: Vec<Member>,
    /// The whole declaration.
    pub span: Span,
}

/// Access modifiers. The default is `private`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Macros of the same class and its subclasses.
    #[default]
    Private,
    /// Macros and functions of the same package.
    Internal,
    /// Anyone, through the object access interface.
    Public,
}

impl Access {
    /// The keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Private => "private",
            Access::Internal => "internal",
            Access::Public => "public",
        }
    }
}

/// The modifiers written before a member, each with where it was written.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Modifiers {
    /// `public` / `internal` / `private`, if written.
    pub access: Option<(Access, Span)>,
    /// `mut`.
    pub mut_: Option<Span>,
    /// `static`.
    pub static_: Option<Span>,
    /// `override`.
    pub override_: Option<Span>,
}

impl Modifiers {
    /// The access in force (written or the default).
    pub fn access(&self) -> Access {
        self.access.map(|(a, _)| a).unwrap_or_default()
    }
}

/// One member of a class.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Member {
    /// Doc comment.
    pub docs: Option<Docs>,
    /// Annotations before the member and after a function's signature.
    pub annotations: Vec<Annotation>,
    /// Modifiers.
    pub modifiers: Modifiers,
    /// The member's name.
    pub name: Ident,
    /// What kind of member it is.
    pub kind: MemberKind,
    /// The whole member.
    pub span: Span,
}

/// The kinds of member.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "member")]
pub enum MemberKind {
    /// `state name: Type = default`.
    State {
        /// Declared type.
        ty: TypeExpr,
        /// Default value.
        default: Option<Expr>,
    },
    /// `file name: "media/type"`.
    File {
        /// The media type, if given.
        media_type: Option<StringLit>,
    },
    /// `ref name: Class` or `ref name: [Class]`.
    Ref {
        /// Declared type.
        ty: TypeExpr,
        /// Default value.
        default: Option<Expr>,
    },
    /// `fn name(params) -> Type`.
    Fn(Signature),
    /// `macro name(params) -> Type { body }`.
    Macro {
        /// Parameters and result.
        sig: Signature,
        /// The body.
        body: MacroBody,
    },
}

impl MemberKind {
    /// A word for the kind, for messages.
    pub fn describe(&self) -> &'static str {
        match self {
            MemberKind::State { .. } => "state field",
            MemberKind::File { .. } => "file",
            MemberKind::Ref { .. } => "ref",
            MemberKind::Fn(_) => "function",
            MemberKind::Macro { .. } => "macro",
        }
    }

    /// The signature of a function or macro.
    pub fn signature(&self) -> Option<&Signature> {
        match self {
            MemberKind::Fn(sig) | MemberKind::Macro { sig, .. } => Some(sig),
            _ => None,
        }
    }
}

/// A string literal with its span.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StringLit {
    /// The value, escapes resolved.
    pub value: String,
    /// Where, quotes included.
    pub span: Span,
}

/// Parameters and result type of a function or macro.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Signature {
    /// Parameters in order.
    pub params: Vec<Param>,
    /// `-> Type`, if written.
    pub ret: Option<TypeExpr>,
    /// From `(` to the end of the result type.
    pub span: Span,
}

/// `name: Type = default`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Param {
    /// Name.
    pub name: Ident,
    /// Type.
    pub ty: TypeExpr,
    /// Default value.
    pub default: Option<Expr>,
    /// The whole parameter.
    pub span: Span,
}

/// A written type.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TypeExpr {
    /// Its shape.
    pub kind: TypeExprKind,
    /// Where.
    pub span: Span,
}

/// The shapes of written types.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", content = "of")]
pub enum TypeExprKind {
    /// `int`, `Video`, `Self`, ...
    Named(Ident),
    /// `[T]`.
    List(Box<TypeExpr>),
    /// `T?`.
    Optional(Box<TypeExpr>),
}

/// A macro body: `let` bindings and a `return`, in the order written.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MacroBody {
    /// The statements.
    pub stmts: Vec<Stmt>,
    /// From `{` to `}`.
    pub span: Span,
}

/// A statement of a macro body.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "stmt")]
pub enum Stmt {
    /// `let name = expr`.
    Let(Let),
    /// A call made for its effect: `self.put(key: k)`, an `if` or a `try` statement.
    Expr {
        /// The expression.
        value: Expr,
        /// `after a, b`: names whose calls run before this statement's.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        after: Vec<Ident>,
        /// The whole statement.
        span: Span,
    },
    /// `return expr`.
    Return {
        /// The value.
        value: Expr,
        /// The whole statement.
        span: Span,
    },
}

impl Stmt {
    /// The whole statement.
    pub fn span(&self) -> Span {
        match self {
            Stmt::Let(l) => l.span,
            Stmt::Expr { span, .. } | Stmt::Return { span, .. } => *span,
        }
    }
}

/// `{ statements }` of an `if`, `else`, `try` or `catch`. Its value, when it is used as one,
/// is that of its last statement, if that is an expression.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Block {
    /// The statements.
    pub stmts: Vec<Stmt>,
    /// From `{` to `}`.
    pub span: Span,
}

impl Block {
    /// The expression of the last statement, the block's value.
    pub fn value(&self) -> Option<&Expr> {
        match self.stmts.last() {
            Some(Stmt::Expr { value, .. }) => Some(value),
            _ => None,
        }
    }
}

/// A piece of an interpolated string.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "part", content = "of", rename_all = "snake_case")]
pub enum InterpPart {
    /// Text as written, escapes resolved.
    Text(String),
    /// `{expr}`: the value written out.
    Value(Expr),
}

/// `tolerate N` or `tolerate N%` of a `for`, with where it was written.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tolerate {
    /// How many elements may fail.
    pub limit: Tolerance,
    /// From `tolerate` to the end of the number.
    pub span: Span,
}

/// How many elements of a `for` may fail before the whole `for` fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tolerance {
    /// At most this many.
    Count(u64),
    /// At most this share, in percent of the elements run (rounded down).
    Percent(u64),
}

impl Tolerance {
    /// How many failures are tolerated among `elements` run.
    pub fn allowed(self, elements: usize) -> usize {
        match self {
            Tolerance::Count(n) => usize::try_from(n).unwrap_or(usize::MAX),
            Tolerance::Percent(p) => {
                let share = (elements as u128).saturating_mul(u128::from(p.min(100))) / 100;
                usize::try_from(share).unwrap_or(usize::MAX)
            }
        }
    }

    /// The tolerance as written after `tolerate`.
    pub fn as_written(self) -> String {
        match self {
            Tolerance::Count(n) => n.to_string(),
            Tolerance::Percent(p) => format!("{p}%"),
        }
    }
}

/// Operators of two operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BinOp {
    /// `or`
    Or,
    /// `and`
    And,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `+`: numbers, or strings joined.
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
}

impl BinOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
        }
    }

    /// The operator of a written token.
    pub fn parse(text: &str) -> Option<BinOp> {
        [
            BinOp::Or,
            BinOp::And,
            BinOp::Eq,
            BinOp::Ne,
            BinOp::Lt,
            BinOp::Le,
            BinOp::Gt,
            BinOp::Ge,
            BinOp::Add,
            BinOp::Sub,
            BinOp::Mul,
            BinOp::Div,
            BinOp::Rem,
        ]
        .into_iter()
        .find(|op| op.as_str() == text)
    }

    /// Binding strength: higher binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And => 2,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 3,
            BinOp::Add | BinOp::Sub => 4,
            BinOp::Mul | BinOp::Div | BinOp::Rem => 5,
        }
    }
}

/// Operators of one operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnOp {
    /// `not`
    Not,
    /// `-`
    Neg,
}

impl UnOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            UnOp::Not => "not",
            UnOp::Neg => "-",
        }
    }
}

/// `let name = value`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Let {
    /// The bound name.
    pub name: Ident,
    /// The value.
    pub value: Expr,
    /// `after a, b`: names whose calls run before this statement's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<Ident>,
    /// The whole statement.
    pub span: Span,
}

/// An argument, positional or `name: value` (`name=value` in access expressions).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Arg {
    /// The name, for named arguments.
    pub name: Option<Ident>,
    /// The value.
    pub value: Expr,
    /// The whole argument.
    pub span: Span,
}

/// An expression.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Expr {
    /// Its shape.
    pub kind: ExprKind,
    /// Where.
    pub span: Span,
}

/// The shapes of expressions.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "expr")]
pub enum ExprKind {
    /// `42`
    Int {
        /// Value.
        value: i64,
    },
    /// `0.5`
    Float {
        /// Value.
        value: f64,
    },
    /// `"text"`
    Str {
        /// Value, escapes resolved.
        value: String,
    },
    /// `"paid {amount}"`: a string with values written into it, in order.
    Interp {
        /// The text and the values.
        parts: Vec<InterpPart>,
    },
    /// `true` / `false`
    Bool {
        /// Value.
        value: bool,
    },
    /// `null`
    Null,
    /// `120s`, `200ms`: only meaningful in annotations.
    Duration {
        /// Length in milliseconds.
        millis: u64,
    },
    /// `[a, b]`
    List {
        /// Elements.
        items: Vec<Expr>,
    },
    /// `{"k": v}`: a JSON object.
    Object {
        /// Members in order.
        members: Vec<(String, Expr)>,
    },
    /// `self`
    SelfRef,
    /// A parameter, a `let` name, a loop variable, or a class name before `.fn()`.
    Name {
        /// The name.
        name: Ident,
    },
    /// `target.name`
    Field {
        /// What the field is read from.
        target: Box<Expr>,
        /// The field.
        name: Ident,
    },
    /// `target.method(args)`, including `Class.static_fn(args)`.
    Call {
        /// The object or class.
        target: Box<Expr>,
        /// The function.
        method: Ident,
        /// The arguments.
        args: Vec<Arg>,
    },
    /// `name(args)`: a built-in operation such as `flatten`.
    FreeCall {
        /// The function.
        func: Ident,
        /// The arguments.
        args: Vec<Arg>,
    },
    /// `for var in iter { lets; value }`: a fan-out.
    For {
        /// The loop variable.
        var: Ident,
        /// The list iterated over.
        iter: Box<Expr>,
        /// `if cond` after the list: elements for which it is false are left out.
        #[serde(skip_serializing_if = "Option::is_none")]
        filter: Option<Box<Expr>>,
        /// `tolerate 2` / `tolerate 10%`: how many elements may fail.
        #[serde(skip_serializing_if = "Option::is_none")]
        tolerate: Option<Tolerate>,
        /// `let`s inside the body.
        lets: Vec<Let>,
        /// The value computed per element.
        value: Box<Expr>,
    },
    /// `lhs op rhs`.
    Binary {
        /// The operator.
        op: BinOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// `not x`, `-x`.
    Unary {
        /// The operator.
        op: UnOp,
        /// The operand.
        operand: Box<Expr>,
    },
    /// `if cond { ... } else { ... }`; `else if` is an `else` block holding one `if`.
    If {
        /// The condition.
        cond: Box<Expr>,
        /// The block run when it holds.
        then: Block,
        /// The block run otherwise.
        #[serde(skip_serializing_if = "Option::is_none")]
        otherwise: Option<Block>,
    },
    /// `try { ... } catch e { ... }`.
    Try {
        /// The calls tried.
        body: Block,
        /// The name of the error in the catch block.
        var: Ident,
        /// What runs when a call of `body` failed.
        catch: Block,
    },
}
