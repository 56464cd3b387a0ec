//! Access modifiers at run time: who calls (the outside world or the platform itself), what
//! each may reach, and the errors that say why not. Every check of an access modifier in the
//! runtime goes through [`allows`].

use crate::error::{Error, Result};
use oaas_compiler::artifact::{Access, ClassArtifact};
use serde_json::Value;

/// Who is calling: the outside world (only `public` members) or the runtime itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// Through the object access interface.
    External,
    /// From a macro of the platform.
    Internal,
}

/// Whether `caller` may reach a member declared with `access`.
pub fn allows(caller: Caller, access: Access) -> bool {
    caller == Caller::Internal || access == Access::Public
}

/// What kind of member a check is about, for its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member {
    /// A function (`fn`).
    Function,
    /// A macro.
    Macro,
    /// A state field.
    State,
    /// A ref.
    Ref,
    /// A file.
    File,
}

impl Member {
    fn noun(self) -> &'static str {
        match self {
            Member::Function => "function",
            Member::Macro => "macro",
            Member::State => "state field",
            Member::Ref => "ref",
            Member::File => "file",
        }
    }
}

fn modifier(access: Access) -> &'static str {
    match access {
        Access::Internal => "internal to its package",
        _ => "private to its class",
    }
}

/// Checks that `caller` may reach `class.name` declared with `access`: `403` otherwise.
pub fn check(
    caller: Caller,
    class: &ClassArtifact,
    member: Member,
    name: &str,
    access: Access,
) -> Result<()> {
    if allows(caller, access) {
        return Ok(());
    }
    let what = match member {
        Member::Function | Member::Macro => format!(
            "`{}.{name}` is {}: only public {}s can be called from outside",
            class.name,
            modifier(access),
            member.noun()
        ),
        _ => format!(
            "{} `{name}` of `{}` is {}",
            member.noun(),
            class.name,
            modifier(access)
        ),
    };
    Err(Error::forbidden(what))
}

/// A static member is called on its class, any other on an object.
pub fn check_target(on_object: bool, is_static: bool, name: &str, class: &str) -> Result<()> {
    match (on_object, is_static) {
        (true, true) => Err(Error::bad_request(format!(
            "`{name}` is static: call it on the class `{class}`"
        ))),
        (false, false) => Err(Error::bad_request(format!(
            "`{name}` is called on an object of `{class}`, not on the class"
        ))),
        _ => Ok(()),
    }
}

/// From outside, `new` sets only what the outside may read: giving a `private` or `internal`
/// field or ref is refused (`403`), whatever the value. `given` is the call's own arguments,
/// before defaults are filled in.
pub fn check_new(class: &ClassArtifact, given: &Value, caller: Caller) -> Result<()> {
    let Some(given) = given.as_object() else {
        return Ok(());
    };
    let hidden = class
        .state
        .iter()
        .map(|f| (&f.name, f.access))
        .chain(class.refs.iter().map(|r| (&r.name, r.access)))
        .find(|(name, access)| !allows(caller, *access) && given.contains_key(name.as_str()));
    match hidden {
        Some((name, access)) => Err(Error::forbidden(format!(
            "`{name}` of `{}` is {}: `new` from outside cannot set it (it keeps its default)",
            class.name,
            modifier(access)
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::error::ErrorKind;
    use serde_json::json;

    fn class() -> ClassArtifact {
        let source = "package p\nclass C {\n  public state a: int = 0\n  internal state b: int = 0\n  private state c: int = 0\n  public fn f() -> int\n  internal fn g() -> int\n  private fn h() -> int\n}\n";
        let mut ws = oaas_compiler::Workspace::new();
        ws.add_file("p.oaas", source);
        let build = ws.build();
        let artifact = build.artifact.unwrap();
        artifact.class("p.C").unwrap().clone()
    }

    #[test]
    fn the_outside_reaches_public_members_only_and_the_platform_all() {
        let c = class();
        let table = [
            (Caller::External, Access::Public, true),
            (Caller::External, Access::Internal, false),
            (Caller::External, Access::Private, false),
            (Caller::Internal, Access::Public, true),
            (Caller::Internal, Access::Internal, true),
            (Caller::Internal, Access::Private, true),
        ];
        for (caller, access, allowed) in table {
            assert_eq!(allows(caller, access), allowed, "{caller:?} {access:?}");
            for member in [
                Member::Function,
                Member::Macro,
                Member::State,
                Member::Ref,
                Member::File,
            ] {
                let r = check(caller, &c, member, "m", access);
                assert_eq!(r.is_ok(), allowed, "{caller:?} {access:?} {member:?}");
                if let Err(e) = r {
                    assert_eq!(e.kind, ErrorKind::Forbidden);
                    assert!(
                        e.message.contains("`m`") || e.message.contains(".m`"),
                        "{}",
                        e.message
                    );
                }
            }
        }
        for f in &c.functions {
            let r = check(Caller::External, &c, Member::Function, &f.name, f.access);
            assert_eq!(r.is_ok(), f.access == Access::Public, "{}", f.name);
        }
    }

    #[test]
    fn new_from_outside_cannot_set_hidden_fields() {
        let c = class();
        assert!(check_new(&c, &json!({"a": 1}), Caller::External).is_ok());
        for hidden in ["b", "c"] {
            let e = check_new(&c, &json!({ hidden: 1 }), Caller::External).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Forbidden, "{hidden}");
            assert!(check_new(&c, &json!({ hidden: 1 }), Caller::Internal).is_ok());
        }
    }

    #[test]
    fn static_members_on_classes_others_on_objects() {
        assert!(check_target(true, false, "f", "p.C").is_ok());
        assert!(check_target(false, true, "f", "p.C").is_ok());
        assert_eq!(
            check_target(true, true, "f", "p.C").unwrap_err().kind,
            ErrorKind::BadRequest
        );
        assert_eq!(
            check_target(false, false, "f", "p.C").unwrap_err().kind,
            ErrorKind::BadRequest
        );
    }
}
