"""Testing functions without a runtime: the runtime's side of the task protocol, in memory.

`LocalRuntime` serves, on an ephemeral port of 127.0.0.1:

- blobs behind signed URLs, `/blobs/{key}?method=GET|PUT&exp=...&sig=good`. The signature is
  a stand-in for the runtime's HMAC: URLs made by `url()` carry `sig=good`; any other
  signature, or a method other than the one signed, answers 403, as the runtime does;
- output allocation, `POST /alloc/{task}/{class}?sig=good` (what `outputs.allocate_url`
  points at), answering `{"id", "upload"}` with one upload URL per file of the class, as
  given in `files`;
- `GET /api/objects/{id}` for the objects put in `objects` (404 for others), which is what
  a function reads through `OAAS_RUNTIME_URL`.

What a function did is left in `blobs`, `content_types` (of each upload), `allocated`
(`(id, class)` pairs, in order) and `object_gets`. Standard library only, like the SDK:

    from oaas_sdk.testing import LocalRuntime

    rt = LocalRuntime(files={"video.Image": ["data"]})
    rt.put("objects/v1/src", b"...")             # a file the task reads
    url = rt.url("GET", "objects/v1/src")        # what the task document carries
    ...
    rt.close()
"""

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["LocalRuntime"]


class LocalRuntime:
    """Signed blobs, output allocation and object reads, served in memory (see the module)."""

    def __init__(self, files=None):
        #: class -> names of its files, for the upload URLs of allocated outputs.
        self.files = dict(files or {})
        #: URL path (`/blobs/{key}`) -> bytes.
        self.blobs = {}
        #: URL path -> the Content-Type it was uploaded with.
        self.content_types = {}
        #: object id -> the JSON `GET /api/objects/{id}` answers.
        self.objects = {}
        #: `(id, class)` of every allocated output, in order.
        self.allocated = []
        #: ids read through `GET /api/objects/{id}`, in order.
        self.object_gets = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        #: `http://127.0.0.1:PORT`, what `OAAS_RUNTIME_URL` names (with a final `/`).
        self.base = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, method, key, sig="good"):
        """A URL granting `method` on blob `key` (another `sig` makes a bad one)."""
        return f"{self.base}/blobs/{key}?method={method}&exp=9999999999&sig={sig}"

    def allocate_url(self, task, cls):
        """The `outputs.allocate_url` of a task making objects of `cls`."""
        return f"{self.base}/alloc/{task}/{cls}?exp=9999999999&sig=good"

    def put(self, key, data):
        """Stores a blob, as if uploaded."""
        self.blobs[f"/blobs/{key}"] = data

    def get(self, key):
        """A blob's bytes, or None."""
        return self.blobs.get(f"/blobs/{key}")

    def close(self):
        """Stops serving."""
        self.server.shutdown()
        self.server.server_close()


def _handler(rt):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _answer(self, status, body=b"", ctype="application/octet-stream"):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _signed(self, method):
            url = urllib.parse.urlsplit(self.path)
            q = urllib.parse.parse_qs(url.query)
            if q.get("sig") != ["good"] or q.get("method") != [method]:
                self._answer(403, b"bad signature")
                return None
            return url.path

        def do_GET(self):
            path = urllib.parse.urlsplit(self.path).path
            if path.startswith("/api/objects/"):
                oid = urllib.parse.unquote(path[len("/api/objects/"):])
                with rt.lock:
                    rt.object_gets.append(oid)
                    obj = rt.objects.get(oid)
                if obj is None:
                    body = json.dumps({"error": {"message": f"there is no object `{oid}`"}})
                    self._answer(404, body.encode(), "application/json")
                else:
                    self._answer(200, json.dumps(obj).encode(), "application/json")
                return
            path = self._signed("GET")
            if path is None:
                return
            data = rt.blobs.get(path)
            if data is None:
                self._answer(404, b"no blob")
            else:
                self._answer(200, data)

        def do_PUT(self):
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length)
            path = self._signed("PUT")
            if path is None:
                return
            with rt.lock:
                rt.blobs[path] = data
                rt.content_types[path] = self.headers.get("Content-Type")
            self._answer(200)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            url = urllib.parse.urlsplit(self.path)
            parts = url.path.strip("/").split("/")
            signed = urllib.parse.parse_qs(url.query).get("sig") == ["good"]
            if len(parts) != 3 or parts[0] != "alloc" or not signed:
                self._answer(403, b"bad allocate url")
                return
            cls = urllib.parse.unquote(parts[2])
            with rt.lock:
                oid = f"alloc-{len(rt.allocated)}"
                rt.allocated.append((oid, cls))
            upload = {f: rt.url("PUT", f"objects/{oid}/{f}") for f in rt.files.get(cls, [])}
            self._answer(200, json.dumps({"id": oid, "upload": upload}).encode(), "application/json")

    return Handler
