//! `/openapi.json`: the HTTP API described as OpenAPI 3.1.

use serde_json::{json, Value};

fn op(summary: &str, params: &[(&str, &str, &str)], body: bool, ok: &str) -> Value {
    let parameters: Vec<Value> = params
        .iter()
        .map(|(name, place, desc)| json!({"name": name, "in": place, "required": *place == "path", "description": desc, "schema": {"type": "string"}}))
        .collect();
    let mut o = json!({
        "summary": summary,
        "parameters": parameters,
        "responses": {
            ok: {"description": "success", "content": {"application/json": {"schema": {"type": "object"}}}},
            "400": {"$ref": "#/components/responses/Error"},
            "403": {"$ref": "#/components/responses/Error"},
            "404": {"$ref": "#/components/responses/Error"},
        }
    });
    if body {
        o["requestBody"] = json!({"required": false, "content": {"application/json": {"schema": {"type": "object"}}}});
    }
    o
}

/// The OpenAPI document.
pub fn document() -> Value {
    let id = ("id", "path", "object id");
    let cls = (
        "cls",
        "path",
        "class, `package.Class` or an unambiguous `Class`",
    );
    let func = ("func", "path", "function name");
    let asyncq = (
        "async",
        "query",
        "`true`: answer 202 at once and run in the background",
    );
    json!({
        "openapi": "3.1.0",
        "info": {"title": "OaaS runtime", "version": env!("CARGO_PKG_VERSION"),
                 "description": "The object access interface: packages, classes, objects with immutable versions, files by signed URL, and invocations."},
        "paths": {
            "/healthz": {"get": op("Liveness", &[], false, "200")},
            "/metrics": {"get": op("Prometheus metrics", &[], false, "200")},
            "/api/packages": {
                "post": op("Deploy a package: an artifact from `oaasc build`, or `{sources: {path: text}, workdir}`", &[], true, "201"),
                "get": op("Deployed packages and their current versions", &[], false, "200")
            },
            "/api/classes/{cls}": {"get": op("A class: public state, files, refs, functions, macros", &[cls], false, "200")},
            "/api/classes/{cls}/objects": {
                "post": op("Create an object (builtin `new`); the body holds state fields", &[cls], true, "201"),
                "get": op("List or query objects: `field=value` filters on public state, `after`, `limit`", &[cls, ("after", "query", "page after this id"), ("limit", "query", "page size (1..1000)")], false, "200")
            },
            "/api/classes/{cls}/invoke/{func}": {"post": op("Call a static function", &[cls, func, asyncq], true, "200")},
            "/api/objects/{id}": {
                "get": op("An object, newest version or `?version=`", &[id, ("version", "query", "a version number")], false, "200"),
                "delete": op("Delete an object (a new, deleted version)", &[id], false, "200")
            },
            "/api/objects/{id}/versions": {"get": op("Every version of an object", &[id], false, "200")},
            "/api/objects/{id}/files/{name}": {"get": op("Redirect (307) to a signed URL of the file; `?relay=true` streams it through", &[id, ("name", "path", "file name"), ("relay", "query", "stream instead of redirect")], false, "307")},
            "/api/objects/{id}/invoke/{func}": {"post": op("Call a function of an object; the body holds the arguments by name", &[id, func, asyncq], true, "200")},
            "/api/invocations/{id}": {"get": op("An invocation: status, result or error, per-node status", &[("id", "path", "invocation id")], false, "200")},
            "/oal/{expr}": {"get": op("Run an object access expression, e.g. `vid42:transcode(height=720)/src`", &[("expr", "path", "the expression")], false, "200")}
        },
        "components": {
            "responses": {
                "Error": {"description": "an error", "content": {"application/json": {"schema": {
                    "type": "object",
                    "properties": {"error": {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}}, "required": ["code", "message"]}}
                }}}}
            }
        }
    })
}
