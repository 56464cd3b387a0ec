//! The roles a token can have. Below the store, which records them, and the tokens layer,
//! which checks them.

use serde::{Deserialize, Serialize};

/// What a token may do; each role may do all that the roles before it may.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read public state, files and invocations.
    Read,
    /// Also call public functions and macros, and create objects.
    Invoke,
    /// Also deploy packages (those the token names, when it names any).
    Deploy,
    /// Everything, tokens included.
    Admin,
}

impl Role {
    /// The role's name, as written in tokens and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Invoke => "invoke",
            Role::Deploy => "deploy",
            Role::Admin => "admin",
        }
    }
}
