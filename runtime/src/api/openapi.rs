//! `/openapi.json`: the HTTP API described as OpenAPI 3.1.

use serde_json::{json, Value};

/// A parameter: its name, where it goes (`path` or `query`), what it is, and its schema.
fn param(name: &str, place: &str, description: &str, schema: Value) -> Value {
    json!({
        "name": name,
        "in": place,
        "required": place == "path",
        "description": description,
        "schema": schema,
    })
}

/// A string parameter.
fn text(name: &str, place: &str, description: &str) -> Value {
    param(name, place, description, json!({"type": "string"}))
}

/// What `oaas_compiler::check::valid_signal_name` takes, as a JSON Schema pattern.
const SIGNAL_NAME_PATTERN: &str = "^[A-Za-z0-9_.-]{1,64}$";

/// The error statuses every operation can answer, and those of calls that run functions.
const ERRORS: &[&str] = &["400", "401", "403", "404", "405", "415", "503"];
const CALL_ERRORS: &[&str] = &["409", "422", "502", "504"];

/// One operation: a summary, parameters, an optional JSON body (its schema), the success
/// status, and whether it runs functions (which adds their error statuses).
fn op(summary: &str, params: &[Value], body: Option<Value>, ok: &str, runs: bool) -> Value {
    let mut responses = json!({
        ok: {"description": "success", "content": {"application/json": {"schema": {"type": "object"}}}},
    });
    let extra: &[&str] = if runs { CALL_ERRORS } else { &[] };
    for status in ERRORS.iter().chain(extra) {
        responses[*status] = json!({"$ref": "#/components/responses/Error"});
    }
    let mut o = json!({"summary": summary, "parameters": params, "responses": responses});
    if let Some(schema) = body {
        o["requestBody"] =
            json!({"required": false, "content": {"application/json": {"schema": schema}}});
    }
    o
}

/// A call that `?async=true` answers at once with `202` and where to follow the invocation.
fn call_op(summary: &str, params: &[Value], body: Value) -> Value {
    let mut o = op(summary, params, Some(body), "200", true);
    o["responses"]["202"] = json!({"description": "`?async=true`: started; `status_url` tells how it goes", "content": {"application/json": {"schema": {"type": "object"}}}});
    o
}

/// The OpenAPI document.
pub fn document() -> Value {
    let id = text("id", "path", "object id");
    let cls = text(
        "cls",
        "path",
        "class, `package.Class` or an unambiguous `Class`",
    );
    let func = text("func", "path", "function name");
    let no_cache = param(
        "Cache-Control",
        "header",
        "`no-cache`: `@memo` functions run their containers rather than answer with recorded results",
        json!({"type": "string"}),
    );
    let asyncq = param(
        "async",
        "query",
        "`true`: answer 202 at once and run in the background",
        json!({"type": "boolean"}),
    );
    let args = json!({"type": ["object", "null"], "description": "arguments by name (none: no body, or `null`)"});
    let deploy_body = json!({
        "oneOf": [
            {"type": "object", "description": "`.oaas` sources, compiled by the runtime",
             "properties": {
                 "sources": {"type": "object", "additionalProperties": {"type": "string"}, "minProperties": 1, "description": "file path -> text"},
                 "workdir": {"type": ["string", "null"], "description": "where `@local` commands run"}
             },
             "required": ["sources"]},
            {"type": "object", "description": "an artifact as `oaasc build` writes it",
             "properties": {
                 "format": {"const": oaas_compiler::artifact::FORMAT},
                 "version": {"type": "string"},
                 "packages": {"type": "array", "items": {"type": "object",
                     "properties": {"name": {"type": "string"}, "records": {"type": "array"}, "classes": {"type": "array"}},
                     "required": ["name", "records", "classes"]}},
                 "sources": {"type": "array", "items": {"type": "object",
                     "properties": {"path": {"type": "string"}, "text": {"type": "string"}},
                     "required": ["path", "text"]}}
             },
             "required": ["format", "version", "packages", "sources"]}
        ]
    });
    let mut metrics = op("Prometheus metrics", &[], None, "200", false);
    metrics["responses"]["200"] = json!({"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}});
    let mut file = op(
        "Redirect (307) to a signed URL of the file; `?relay=true` streams it through",
        &[
            id.clone(),
            text("name", "path", "file name"),
            param(
                "version",
                "query",
                "a version number",
                json!({"type": "integer", "minimum": 1, "maximum": i64::MAX}),
            ),
            param(
                "relay",
                "query",
                "stream instead of redirect",
                json!({"type": "boolean"}),
            ),
            param(
                "signed",
                "query",
                "answer `{url, media_type}` (200, JSON) instead of redirecting",
                json!({"type": "boolean"}),
            ),
        ],
        None,
        "307",
        false,
    );
    file["responses"]["307"] = json!({"description": "redirect to a signed URL of the file"});
    file["responses"]["200"] = json!({"description": "the file, with `?relay=true`; its signed URL as JSON with `?signed=true`", "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}, "application/json": {"schema": {"type": "object", "properties": {"url": {"type": "string"}, "media_type": {"type": ["string", "null"]}}}}}});
    let expr = text("expr", "path", "the expression");
    let mut mint = op("Mint a token (admin): `{role: read|invoke|deploy, packages?}`; its secret is answered once", &[], Some(json!({"type": "object", "properties": {"role": {"enum": ["read", "invoke", "deploy"]}, "packages": {"type": ["array", "null"], "items": {"type": "string"}}}, "required": ["role"]})), "201", false);
    mint["requestBody"]["required"] = json!(true);
    let mut revoke = op(
        "Revoke a token (admin)",
        &[text("id", "path", "token id")],
        None,
        "204",
        false,
    );
    revoke["responses"]["204"] = json!({"description": "revoked; no body"});
    let mut healthz = op(
        "Liveness and readiness: the store and the blobs answer (needs no token)",
        &[],
        None,
        "200",
        false,
    );
    healthz["security"] = json!([]);
    healthz["responses"]["503"] = json!({"description": "the store or the blobs do not answer", "content": {"application/json": {"schema": {"type": "object"}}}});
    let inv_id = text("id", "path", "invocation id");
    let mut signal = op(
        "Send a signal to a running macro: a JSON value (at most 64 KiB) for its `signal(name, ...)` wait, kept until a wait takes it, once. 404: no such invocation; 409: it has finished, or holds 64 signals not taken yet; 422: its macro waits for no such signal, or the value is not of the signal's type",
        &[
            inv_id.clone(),
            param(
                "name",
                "path",
                "signal name: 1 to 64 letters, digits, `_`, `-`, `.`",
                json!({"type": "string", "pattern": SIGNAL_NAME_PATTERN}),
            ),
        ],
        Some(json!({"description": "the signal's value, of the type its `signal(..., type: T)` declares (any JSON without one)"})),
        "202",
        false,
    );
    signal["requestBody"]["required"] = json!(true);
    for status in ["404", "409", "413", "422"] {
        signal["responses"][status] = json!({"$ref": "#/components/responses/Error"});
    }
    let mut events = op(
        "Server-sent events of an invocation: `node` (a node's newest status, id = its change's position) in order, then `done`; `Last-Event-ID` resumes after an event",
        &[inv_id.clone(), param("Last-Event-ID", "header", "the id of the last event received, to resume after it", json!({"type": "string", "pattern": "^[0-9]+$"}))],
        None,
        "200",
        false,
    );
    events["responses"]["200"] = json!({"description": "an event stream: `event: node` with a node record and its `key`, then `event: done` with `status`, `result`, `error`; it ends after `done` (or after 10 minutes: reconnect with `Last-Event-ID`)", "content": {"text/event-stream": {"schema": {"type": "string"}}}});
    let list_invocations = op(
        "Recorded invocations, newest first, without nodes: `status`, `object` (calls made on it), `before` (next_before of the previous page), `limit` (1 to 100, default 50)",
        &[
            param("status", "query", "only with this status", json!({"enum": ["pending", "succeeded", "failed"]})),
            text("object", "query", "only calls made on this object"),
            text("before", "query", "the page after this invocation id"),
            param("limit", "query", "page size", json!({"type": "integer", "minimum": 1, "maximum": 100})),
        ],
        None,
        "200",
        false,
    );
    let mut console = op("The console: a web page that reads this API with the token its user gives (needs no token itself)", &[], None, "200", false);
    console["security"] = json!([]);
    console["responses"]["200"] = json!({"description": "the console's page", "content": {"text/html": {"schema": {"type": "string"}}}});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "OaaS runtime", "version": env!("CARGO_PKG_VERSION"),
                 "description": "The object access interface: packages, classes, objects with immutable versions, files by signed URL, and invocations. Every error is JSON: `{\"error\": {\"code\", \"message\"}}`."},
        "paths": {
            "/healthz": {"get": healthz},
            "/api/tokens": {
                "post": mint,
                "get": op("Minted tokens (admin), without their secrets", &[], None, "200", false)
            },
            "/api/tokens/{id}": {"delete": revoke},
            "/metrics": {"get": metrics},
            "/api/packages": {
                "post": op("Deploy a package: an artifact from `oaasc build`, or `{sources: {path: text}, workdir}`", &[], Some(deploy_body), "201", false),
                "get": op("Deployed packages and their current versions", &[], None, "200", false)
            },
            "/api/classes/{cls}": {"get": op("A class: public state, files, refs, functions, macros", std::slice::from_ref(&cls), None, "200", false)},
            "/api/classes/{cls}/objects": {
                "post": op("Create an object (builtin `new`); the body holds state fields", std::slice::from_ref(&cls), Some(json!({"type": ["object", "null"], "description": "state fields by name (none: no body, or `null`)"})), "201", true),
                "get": op("List or query objects: `field=value` filters on public state, `after`, `limit`", &[cls.clone(), text("after", "query", "page after this id"), param("limit", "query", "page size", json!({"type": "integer", "minimum": 1, "maximum": crate::objects::MAX_PAGE}))], None, "200", false)
            },
            "/api/classes/{cls}/invoke/{func}": {"post": call_op("Call a static function", &[cls, func.clone(), asyncq.clone(), no_cache.clone()], args.clone())},
            "/api/objects/{id}": {
                "get": op("An object, newest version or `?version=`", &[id.clone(), param("version", "query", "a version number", json!({"type": "integer", "minimum": 1, "maximum": i64::MAX}))], None, "200", false),
                "delete": op("Delete an object (a new, deleted version)", std::slice::from_ref(&id), None, "200", false)
            },
            "/api/objects/{id}/versions": {"get": op("Every version of an object, oldest first, each with the `task_id` that wrote it (its invocation id, `.`, the node)", std::slice::from_ref(&id), None, "200", false)},
            "/api/objects/{id}/files/{name}": {"get": file},
            "/api/objects/{id}/invoke/{func}": {"post": call_op("Call a function of an object; the body holds the arguments by name", &[id, func, asyncq, no_cache], args)},
            "/api/invocations": {"get": list_invocations},
            "/api/invocations/{id}": {"get": op("An invocation: status, result or error, per-node status", std::slice::from_ref(&inv_id), None, "200", false)},
            "/api/invocations/{id}/events": {"get": events},
            "/api/invocations/{id}/signals/{name}": {"post": signal},
            "/api/packages/{name}": {"get": op("A package's current version: its classes and the text of its sources", &[text("name", "path", "package name")], None, "200", false)},
            "/ui": {"get": console},
            "/oal/{expr}": {
                "get": op("Run an object access expression that changes nothing, e.g. `vid42:get/src`", std::slice::from_ref(&expr), None, "200", true),
                "post": op("Run any object access expression, e.g. `vid42:transcode(height=720)/src`", &[expr], None, "200", true)
            }
        },
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "the admin token, or one minted with `oaasc token create`"}},
            "responses": {
                "Error": {"description": "an error", "content": {"application/json": {"schema": {
                    "type": "object",
                    "properties": {"error": {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}}, "required": ["code", "message"]}}
                }}}}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::document;

    /// Found by schemathesis: a 204 documented with a JSON body, a required body documented
    /// as optional, an artifact schema that allowed `{"format": ""}`.
    #[test]
    fn the_document_says_what_the_server_takes_and_answers() {
        let d = document();
        let revoke = &d["paths"]["/api/tokens/{id}"]["delete"]["responses"]["204"];
        assert!(revoke.get("content").is_none(), "{revoke}");
        assert_eq!(
            d["paths"]["/api/tokens"]["post"]["requestBody"]["required"],
            true
        );
        let body = &d["paths"]["/api/packages"]["post"]["requestBody"]["content"];
        let artifact = &body["application/json"]["schema"]["oneOf"][1];
        assert_eq!(artifact["required"].as_array().map(Vec::len), Some(4));
        assert_eq!(artifact["properties"]["format"]["const"], "oaas-artifact/1");
        let source = &artifact["properties"]["sources"]["items"];
        assert_eq!(source["required"], serde_json::json!(["path", "text"]));
        let call = &d["paths"]["/api/objects/{id}/invoke/{func}"]["post"];
        assert!(call["responses"].get("202").is_some(), "{call}");
    }

    /// Found by schemathesis: a signal name the schema allowed and the server refuses. The
    /// pattern takes what the checker's rule takes, and refuses what it refuses.
    #[test]
    fn the_signal_name_pattern_is_the_checkers_rule() {
        let pattern = regex::Regex::new(super::SIGNAL_NAME_PATTERN).expect("a regular expression");
        let max = "a".repeat(64);
        let long = "a".repeat(65);
        for name in [
            "approval", "a.b-c_9", &max, "", &long, "a b", "é", "a/b", "2\n",
        ] {
            assert_eq!(
                pattern.is_match(name),
                oaas_compiler::check::valid_signal_name(name),
                "{name:?}"
            );
        }
    }
}
