"""The oaas-task/1 protocol (docs/protocol.md) for Python function containers.

Standard library only. One request is one task: the runtime POSTs a JSON document, the
registered handler runs with a `Context`, and the answer is built from what the handler did
(state changes, files written, outputs made) and what it returned.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import sys
import time
import traceback
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, NoReturn, Optional, Tuple

PROTOCOL = "oaas-task/1"

# Signed URLs point at the runtime or at object storage: connect directly, never through a
# proxy taken from the environment (a proxy would not reach 127.0.0.1 blobs).
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# Per blob request when the task carries no deadline.
_DEFAULT_TIMEOUT_S = 60.0


class FunctionError(Exception):
    """A failure the function reports on purpose.

    It becomes `{"error": {"message": ..., "retryable": ...}}` with status 503 when
    `retryable` (the runtime tries again, following the function's `@retry`) and 422 when
    not (the task fails at once). `status` overrides the status code.
    """

    def __init__(self, message: str, retryable: bool = False, status: Optional[int] = None):
        super().__init__(message)
        self.message = str(message)
        self.retryable = bool(retryable)
        self.status = status if status is not None else (503 if retryable else 422)


def _error_body(message: str, retryable: bool) -> dict:
    return {"error": {"message": message, "retryable": retryable}}


def _same(a: Any, b: Any) -> bool:
    """JSON equality that tells 1, 1.0 and True apart."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


class Output:
    """An object a function creates: the one of a `-> Class` function (`ctx.output`) or one
    element of a `-> [Class]` function (`ctx.new_output()`).

    Set `state[...]` and `refs[...]` (object ids) and write files with `write_file`. An
    element of a list output is allocated through the task's `allocate_url` only when it
    needs one: when a file is written or its `id` is read. Otherwise the runtime gives it
    the id `uuid5(task_id, index)`.
    """

    def __init__(self, ctx: "Context", class_name: str, id: Optional[str] = None,
                 upload: Optional[Dict[str, str]] = None, allocate_url: Optional[str] = None):
        self._ctx = ctx
        self.class_name = class_name
        self._id = id
        self._upload = dict(upload or {})
        self._allocate_url = allocate_url
        self.state: Dict[str, Any] = {}
        self.refs: Dict[str, Any] = {}
        self.files: List[str] = []

    @property
    def allocated(self) -> bool:
        return self._id is not None

    @property
    def id(self) -> str:
        """The object's id, allocating it first if it is a list element not allocated yet."""
        if self._id is None:
            self.allocate()
        assert self._id is not None
        return self._id

    def allocate(self) -> "Output":
        """Allocate this output now (POST to the task's `allocate_url`). Idempotent."""
        if self._id is not None:
            return self
        if not self._allocate_url:
            raise FunctionError("this output cannot be allocated: the task has no outputs.allocate_url")
        body = self._ctx._http("POST", self._allocate_url, b"", "allocate an output",
                               content_type="application/json")
        try:
            doc = json.loads(body or b"{}")
            self._id = str(doc["id"])
            self._upload = dict(doc.get("upload") or {})
        except (ValueError, KeyError, TypeError) as e:
            raise FunctionError(f"allocate an output: unexpected answer {body[:200]!r}: {e}",
                                retryable=True) from e
        return self

    def write_file(self, name: str, data: Any, media_type: Optional[str] = None) -> None:
        """Upload `data` (bytes, str as UTF-8, or a binary file object) as file `name`."""
        if self._id is None:
            self.allocate()
        url = self._upload.get(name)
        if url is None:
            known = ", ".join(sorted(self._upload)) or "none"
            raise FunctionError(f"class {self.class_name} has no file {name!r} to upload (files: {known})")
        self._ctx._put(url, data, media_type, f"upload file {name!r} of the output")
        if name not in self.files:
            self.files.append(name)

    def _doc(self, with_id: bool) -> dict:
        doc: Dict[str, Any] = {}
        if with_id and self._id is not None:
            doc["id"] = self._id
        doc["state"] = self.state
        if self.refs:
            doc["refs"] = self.refs
        if self.files:
            doc["files"] = list(self.files)
        return doc

    def __repr__(self) -> str:
        return f"Output(class={self.class_name!r}, id={self._id!r}, state={self.state!r})"


class Context:
    """What a handler gets: the task, its object, and helpers for files and outputs.

    - `args`: every argument (defaults filled in by the runtime).
    - `self_id`, `self_class`, `self_version`: the object (None for static functions).
    - `state`: a copy of the object's state. A `mut` function changes it in place (nested
      values too); top-level keys whose value changed are sent back as the state patch.
    - `refs`: the object's refs (object ids), read-only.
    - `read_file(name)`, `write_file(name, data)` (mut functions), `file_url(name)`.
    - `output`: the output object of a `-> Class` function, else None.
    - `new_output()`: one more element of a `-> [Class]` function's result.
    - `object(id)`, `read_object_file(id, name)`: objects passed in object-typed arguments.
    - `fail(message, retryable=False)`: stop with an error.
    """

    def __init__(self, task: dict, headers: Optional[Dict[str, str]] = None):
        self.task = task
        self.headers = dict(headers or {})
        self.task_id: str = task.get("task_id") or self.headers.get("ce-id", "")
        self.invocation_id: str = task.get("invocation_id", "")
        self.package: str = task.get("package", "")
        self.class_name: str = task.get("class", "")
        self.declared_in: str = task.get("declared_in") or self.class_name
        self.function: str = task.get("function", "")
        self.args: Dict[str, Any] = dict(task.get("args") or {})
        self.deadline_ms: Optional[int] = task.get("deadline_ms")
        obj = task.get("self") or None
        self._self = obj
        if obj is not None:
            self.self_id: Optional[str] = obj.get("id")
            self.self_class: Optional[str] = obj.get("class")
            self.self_version: Optional[int] = obj.get("version")
            self._original_state: Dict[str, Any] = obj.get("state") or {}
            self.refs: Dict[str, Any] = copy.deepcopy(obj.get("refs") or {})
            self._files: Dict[str, Any] = obj.get("files") or {}
            self._upload: Dict[str, str] = obj.get("upload") or {}
        else:
            self.self_id = None
            self.self_class = None
            self.self_version = None
            self._original_state = {}
            self.refs = {}
            self._files = {}
            self._upload = {}
        self.state: Dict[str, Any] = copy.deepcopy(self._original_state)
        self._self_files_written: List[str] = []
        out = task.get("output")
        self._output: Optional[Output] = None
        if out is not None:
            self._output = Output(self, out.get("class", ""), id=out.get("id"),
                                  upload=out.get("upload") or {})
        outs = task.get("outputs")
        self._outputs_slot: Optional[dict] = outs
        self._new_outputs: List[Output] = []

    # ---- time ---------------------------------------------------------------------------

    def remaining(self) -> Optional[float]:
        """Seconds left before the deadline (None when the task has none)."""
        if not self.deadline_ms:
            return None
        return self.deadline_ms / 1000.0 - time.time()

    def _timeout(self) -> float:
        left = self.remaining()
        if left is None:
            return _DEFAULT_TIMEOUT_S
        return max(0.5, min(left, _DEFAULT_TIMEOUT_S * 10))

    # ---- errors -------------------------------------------------------------------------

    def fail(self, message: str, retryable: bool = False) -> NoReturn:
        """Stop the function with an error the caller sees."""
        raise FunctionError(message, retryable=retryable)

    # ---- files of self ------------------------------------------------------------------

    @property
    def files(self) -> List[str]:
        """Names of the files the object has (uploaded ones only)."""
        return sorted(self._files)

    def has_file(self, name: str) -> bool:
        return name in self._files

    def file_url(self, name: str) -> str:
        """The signed GET URL of file `name` (for streaming it yourself)."""
        entry = self._files.get(name)
        if entry is None:
            if self._self is None:
                raise FunctionError(f"{self.function} is static: there is no object to read file {name!r} from")
            raise FunctionError(f"object {self.self_id} has no file {name!r} (not uploaded yet?)")
        return entry["url"] if isinstance(entry, dict) else str(entry)

    def media_type(self, name: str) -> Optional[str]:
        entry = self._files.get(name)
        return entry.get("media_type") if isinstance(entry, dict) else None

    def read_file(self, name: str, default: Optional[bytes] = None) -> bytes:
        """The content of file `name`. With `default`, a file not uploaded yet reads as it."""
        if default is not None and name not in self._files:
            return default
        return self._http("GET", self.file_url(name), None, f"read file {name!r}")

    def object(self, object_id: str) -> dict:
        """Another object passed in an object-typed argument: `{id, class, version, state,
        refs, files}` as the runtime sent it in the task's `objects`."""
        objects = self.task.get("objects") or {}
        if object_id not in objects:
            raise FunctionError(f"object {object_id!r} was not passed to this call")
        return objects[object_id]

    def read_object_file(self, object_id: str, name: str) -> bytes:
        """The content of file `name` of an object passed in an argument."""
        entry = (self.object(object_id).get("files") or {}).get(name)
        if not entry:
            raise FunctionError(f"object {object_id!r} has no uploaded file {name!r}")
        return self._http("GET", entry["url"], None, f"read file {name!r} of {object_id}")

    def write_file(self, name: str, data: Any, media_type: Optional[str] = None) -> None:
        """Upload a new version of file `name` of the object (`mut` functions only)."""
        url = self._upload.get(name)
        if url is None:
            if self._self is None:
                raise FunctionError(f"{self.function} is static: there is no object to write file {name!r} to")
            if not self._upload:
                raise FunctionError(f"cannot write file {name!r}: only a mut function may change its object's files")
            known = ", ".join(sorted(self._upload))
            raise FunctionError(f"class {self.self_class} has no file {name!r} (files: {known})")
        self._put(url, data, media_type, f"upload file {name!r}")
        if name not in self._self_files_written:
            self._self_files_written.append(name)

    # ---- outputs ------------------------------------------------------------------------

    @property
    def output(self) -> Output:
        """The output object of a `-> Class` function."""
        if self._output is None:
            raise FunctionError(f"{self.function} has no output object: only functions declared `-> Class` have one")
        return self._output

    def new_output(self, allocate: bool = False) -> Output:
        """One more object of a `-> [Class]` function's result, in order.

        It is allocated through `allocate_url` when it first needs an id (a file written, or
        `.id` read), or now with `allocate=True`.
        """
        slot = self._outputs_slot
        if slot is None:
            raise FunctionError(f"{self.function} does not return a list of objects: new_output() needs `-> [Class]`")
        out = Output(self, slot.get("class", ""), allocate_url=slot.get("allocate_url"))
        self._new_outputs.append(out)
        if allocate:
            out.allocate()
        return out

    # ---- HTTP to signed URLs ------------------------------------------------------------

    def _http(self, method: str, url: str, data: Optional[bytes], what: str,
              content_type: Optional[str] = None, length: Optional[int] = None) -> bytes:
        req = urllib.request.Request(url, data=data, method=method)
        if content_type:
            req.add_header("Content-Type", content_type)
        if length is not None:
            req.add_header("Content-Length", str(length))
        if method == "PUT":
            # Uploads only create: a bucket's upload URLs are signed with this header, and the
            # bucket then refuses a second upload (the runtime's own blob folder ignores it).
            req.add_header("If-None-Match", "*")
        try:
            with _OPENER.open(req, timeout=self._timeout()) as resp:
                return resp.read()
        except urllib.error.HTTPError as e:
            try:
                detail = e.read()[:300].decode("utf-8", "replace")
            except Exception:  # noqa: BLE001 - best effort detail
                detail = ""
            retryable = e.code >= 500 or e.code == 429
            raise FunctionError(f"{what}: {method} answered {e.code}{': ' + detail if detail else ''}",
                                retryable=retryable) from e
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise FunctionError(f"{what}: {method} failed: {reason}", retryable=True) from e

    def _put(self, url: str, data: Any, media_type: Optional[str], what: str) -> None:
        length = None
        if isinstance(data, str):
            data = data.encode("utf-8")
        if isinstance(data, (bytearray, memoryview)):
            data = bytes(data)
        if not isinstance(data, bytes):
            if not hasattr(data, "read"):
                raise FunctionError(f"{what}: data must be bytes, str or a binary file, not {type(data).__name__}")
            try:
                length = os.fstat(data.fileno()).st_size - data.tell()
            except (AttributeError, OSError, ValueError):
                data = data.read()
        self._http("PUT", url, data, what, content_type=media_type or "application/octet-stream",
                   length=length)

    # ---- the answer ---------------------------------------------------------------------

    def _response(self, result: Any) -> dict:
        resp: Dict[str, Any] = {}
        patch = {k: v for k, v in self.state.items()
                 if k not in self._original_state or not _same(self._original_state[k], v)}
        if patch:
            resp["state"] = patch
        if self._self_files_written:
            resp["files"] = list(self._self_files_written)
        is_value = True
        if self._output is not None:
            if isinstance(result, Output):
                is_value = False
            elif isinstance(result, dict) and result is not self.state:
                # `return {...}` from a `-> Class` function: the output's state.
                self._output.state.update(result)
                is_value = False
            resp["output"] = self._output._doc(with_id=False)
        if self._outputs_slot is not None:
            outs = self._new_outputs
            if isinstance(result, (list, tuple)) and all(isinstance(o, Output) for o in result):
                outs = list(result)
                is_value = False
            resp["outputs"] = [o._doc(with_id=True) for o in outs]
        if result is not None and is_value and not isinstance(result, Output):
            resp["value"] = result
        return resp


Handler = Callable[..., Any]


def _call_plan(fn: Handler) -> Tuple[bool, Optional[frozenset]]:
    """(pass all args, names accepted) for a handler `fn(ctx, **args)`."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return True, None
    params = list(sig.parameters.values())[1:]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return True, None
    names = frozenset(p.name for p in params
                      if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY))
    return False, names


class Functions:
    """A registry of handlers, dispatched on (class, function) with a fallback on the
    function name alone."""

    def __init__(self) -> None:
        self._by_key: Dict[Tuple[str, str], Tuple[Handler, bool, Optional[frozenset]]] = {}
        self._by_name: Dict[str, Tuple[Handler, bool, Optional[frozenset]]] = {}

    def register(self, class_name: Optional[str], name: str, fn: Handler) -> Handler:
        entry = (fn,) + _call_plan(fn)
        if class_name:
            self._by_key[(class_name, name)] = entry  # type: ignore[assignment]
        else:
            self._by_name[name] = entry  # type: ignore[assignment]
        return fn

    def function(self, class_name: Any = None, name: Optional[str] = None):
        """Register a handler `fn(ctx, **args)`.

        `@function("record.Record", "increment")`, `@function("record.Record")` (function
        named like the Python function), `@function("increment")` or `@function()` / bare
        `@function` (any class). Class names are qualified (`package.Class`), so a single
        name without a dot is a function name.
        """
        if callable(class_name) and name is None:  # bare @function
            fn = class_name
            return self.register(None, fn.__name__, fn)
        if class_name is not None and name is None and "." not in class_name:
            class_name, name = None, class_name

        def deco(fn: Handler) -> Handler:
            return self.register(class_name, name or fn.__name__, fn)

        return deco

    def lookup(self, class_name: str, name: str, declared_in: Optional[str] = None):
        """(class, function), then (declared_in, function), then the function name alone."""
        entry = self._by_key.get((class_name, name))
        if entry is None and declared_in:
            entry = self._by_key.get((declared_in, name))
        return entry or self._by_name.get(name)

    def handle(self, task: Any, headers: Optional[Dict[str, str]] = None) -> Tuple[int, dict]:
        """Run one task document; answer (status, JSON body). No HTTP involved."""
        if not isinstance(task, dict):
            return 400, _error_body("the task must be a JSON object", False)
        proto = task.get("protocol", PROTOCOL)
        if proto != PROTOCOL:
            return 400, _error_body(f"unsupported protocol {proto!r}: this SDK speaks {PROTOCOL}", False)
        class_name = task.get("class") or ""
        name = task.get("function") or ""
        if not class_name and headers:
            # ce-source: /classes/{package.Class}/functions/{fn}
            parts = headers.get("ce-source", "").strip("/").split("/")
            if len(parts) == 4 and parts[0] == "classes" and parts[2] == "functions":
                class_name, name = parts[1], name or parts[3]
        entry = self.lookup(class_name, name, task.get("declared_in"))
        if entry is None:
            return 404, _error_body(f"no handler for {class_name}.{name} in this container", False)
        fn, pass_all, accepted = entry
        try:
            ctx = Context(task, headers)
            args = ctx.args
            kwargs = args if pass_all else {k: v for k, v in args.items() if k in accepted}
            result = fn(ctx, **kwargs)
            return 200, ctx._response(result)
        except FunctionError as e:
            return e.status, _error_body(e.message, e.retryable)
        except Exception as e:  # noqa: BLE001 - any failure of user code becomes a 500
            traceback.print_exc(file=sys.stderr)
            message = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            return 500, _error_body(message, False)

    # ---- HTTP ---------------------------------------------------------------------------

    def make_server(self, host: Optional[str] = None, port: Optional[int] = None) -> ThreadingHTTPServer:
        """A server bound to (host, port), defaulting to $HOST (127.0.0.1) and $PORT (8080)."""
        if host is None:
            host = os.environ.get("HOST", "127.0.0.1")
        if port is None:
            port = int(os.environ.get("PORT", "8080"))
        registry = self

        class _Handler(_TaskHandler):
            functions = registry

        server = _Server((host, port), _Handler)
        return server

    def serve(self, host: Optional[str] = None, port: Optional[int] = None) -> None:
        """Serve until interrupted. Prints `oaas-sdk: listening on http://HOST:PORT`."""
        server = self.make_server(host, port)
        h, p = server.server_address[:2]
        print(f"oaas-sdk: listening on http://{h}:{p}", file=sys.stderr, flush=True)
        if os.environ.get("OAAS_EXIT_WITH_PARENT") == "1":
            _exit_with_parent()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()


def _exit_with_parent() -> None:
    """Exit when the runtime that started this container dies (even by SIGKILL), so no
    orphaned container keeps running. The runtime sets OAAS_EXIT_WITH_PARENT=1."""
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="oaas-parent-watch", daemon=True).start()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


class _TaskHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "oaas-sdk-python/0.1"
    disable_nagle_algorithm = True
    functions: Functions

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        if os.environ.get("OAAS_SDK_LOG"):
            super().log_message(format, *args)

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body, separators=(",", ":")).encode("utf-8")
        reason = self.responses.get(status, ("",))[0]
        head = (f"HTTP/1.1 {status} {reason}\r\n"
                f"Content-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n\r\n").encode("latin-1")
        # One write: headers and body in one segment.
        self.wfile.write(head + data)
        self.wfile.flush()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        path = self.path.split("?", 1)[0]
        if path in ("/", "/healthz"):
            self._send(200, {"status": "ok"})
        else:
            self._send(404, _error_body(f"no such path {path}", False))

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        try:
            raw = self._read_body()
        except (ValueError, OSError) as e:
            self.close_connection = True
            self._send(400, _error_body(f"cannot read the request body: {e}", False))
            return
        try:
            task = json.loads(raw)
        except ValueError as e:
            self._send(400, _error_body(f"the request body is not JSON: {e}", False))
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, body = self.functions.handle(task, headers)
        try:
            self._send(status, body)
        except (TypeError, ValueError) as e:  # a value json cannot encode
            self._send(500, _error_body(f"the function's result is not JSON: {e}", False))


_default = Functions()
function = _default.function
serve = _default.serve
handle = _default.handle
make_server = _default.make_server


def default_registry() -> Functions:
    """The registry used by the module-level `function` and `serve`."""
    return _default


__all__ = ["PROTOCOL", "Context", "FunctionError", "Functions", "Output", "default_registry",
           "function", "handle", "make_server", "serve"]
