//! Renderers for diagnostics: for people (ariadne), for tools (JSON) and for GitHub Actions.

mod github;
mod human;
mod json;

pub use github::render_github;
pub use human::render_human;
pub use json::{render_json, JsonDiagnostic};
