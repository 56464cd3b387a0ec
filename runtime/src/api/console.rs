//! The console at `/ui`: a page, a script and a style sheet, compiled into the binary
//! (`runtime/ui/`), so it works offline and with no CDN. It holds no data of its own: the
//! page reads the public HTTP API with the token its user gives, so its assets need none.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// The page.
const INDEX: &str = include_str!("../../ui/index.html");
/// The script.
const SCRIPT: &str = include_str!("../../ui/console.js");
/// The style sheet.
const STYLE: &str = include_str!("../../ui/console.css");

/// What the page may load and run: its own script and style only (no inline script, no other
/// origin), and images and video from anywhere, since signed file URLs may be a bucket's.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src * data: blob:; media-src * blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Every asset with its name and media type, for `GET /ui/{name}`.
pub fn asset(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "" | "index.html" => Some((INDEX, "text/html; charset=utf-8")),
        "console.js" => Some((SCRIPT, "text/javascript; charset=utf-8")),
        "console.css" => Some((STYLE, "text/css; charset=utf-8")),
        _ => None,
    }
}

/// The total size of the console's assets, in bytes.
pub fn weight() -> usize {
    INDEX.len() + SCRIPT.len() + STYLE.len()
}

fn answer(name: &str) -> Response {
    match asset(name) {
        Some((body, media_type)) => (
            [
                (header::CONTENT_TYPE, media_type),
                (header::CACHE_CONTROL, "no-cache"),
                (header::CONTENT_SECURITY_POLICY, POLICY),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::REFERRER_POLICY, "no-referrer"),
            ],
            body,
        )
            .into_response(),
        None => super::error::with_status(
            StatusCode::NOT_FOUND,
            format!("the console has no file `{name}`"),
        ),
    }
}

/// `GET /ui` and `GET /ui/`: the page.
pub async fn index() -> Response {
    answer("")
}

/// `GET /ui/{name}`: one asset.
pub async fn file(Path(name): Path<String>) -> Response {
    answer(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The issue asks for a page under 500 KB; this keeps it well under.
    #[test]
    fn the_console_weighs_under_500_kb() {
        assert!(weight() < 500 * 1024, "{} bytes", weight());
        assert!(INDEX.contains("console.js") && INDEX.contains("console.css"));
    }

    #[test]
    fn unknown_assets_are_404() {
        assert!(asset("../Cargo.toml").is_none());
        assert_eq!(answer("nope.js").status(), StatusCode::NOT_FOUND);
        assert_eq!(answer("console.js").status(), StatusCode::OK);
    }
}
