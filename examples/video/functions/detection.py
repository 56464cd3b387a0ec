"""Function container for `video.Detection` (examples/video/video.oaas).

Started by the runtime as `python3 functions/detection.py` with PORT set. It uses the Python
SDK (`pip install ./sdk/python`, docs/sdk.md) and nothing else (standard library only).

`static merge(parts: [Detection]) -> Detection`: one Detection with the faces of every part,
in the order of the parts, and the sum of their `frames_scanned`.

The task document gives a container its `self` and its arguments, and an argument of a class
type is an object id (docs/protocol.md): `parts` is a list of ids, not of states. So merge
reads each part from the runtime's object API, `GET $OAAS_RUNTIME_URL/api/objects/{id}`,
where `OAAS_RUNTIME_URL` is the runtime's base address, which the runtime sets in the
environment of the `@local` containers it starts. An element that already is an object
(`{"state": {...}}`) or a Detection state (`{"faces": [...], ...}`) is used as it is.
"""

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from oaas_sdk import FunctionError, function, serve

# Standard library only (not _media, which imports OpenCV): merge needs no OpenCV.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
FETCH_CONCURRENCY = 8


def _runtime_url(ctx) -> str:
    url = os.environ.get("OAAS_RUNTIME_URL", "").strip()
    if not url:
        ctx.fail("OAAS_RUNTIME_URL is not set: merge reads its parts from the runtime's object API "
                 "(GET {OAAS_RUNTIME_URL}/api/objects/{id}) and needs its address")
    return url.rstrip("/")


def _fetch(ctx, base: str, oid: str) -> dict:
    url = f"{base}/api/objects/{urllib.parse.quote(oid, safe='')}"
    what = f"read part {oid}"
    left = ctx.remaining()
    try:
        with _OPENER.open(urllib.request.Request(url, method="GET"),
                          timeout=60.0 if left is None else max(0.5, left)) as resp:
            body = resp.read()
    except urllib.error.HTTPError as e:
        try:
            detail = e.read()[:300].decode("utf-8", "replace")
        except Exception:  # noqa: BLE001 - best effort detail
            detail = ""
        raise FunctionError(f"{what}: GET {url} answered {e.code}{': ' + detail if detail else ''}",
                            retryable=e.code >= 500 or e.code == 429) from e
    except (urllib.error.URLError, OSError) as e:
        raise FunctionError(f"{what}: GET {url} failed: {getattr(e, 'reason', e)}", retryable=True) from e
    try:
        obj = json.loads(body)
    except ValueError as e:
        raise FunctionError(f"{what}: the answer is not JSON: {body[:200]!r}", retryable=True) from e
    if not isinstance(obj, dict) or not isinstance(obj.get("state"), dict):
        raise FunctionError(f"{what}: the answer has no state: {body[:200]!r}")
    cls = obj.get("class")
    if cls and cls != "video.Detection":
        raise FunctionError(f"part {oid} is a {cls}, not a video.Detection")
    return obj["state"]


def _state_of(part):
    """The state given inline, or None when `part` is an id to fetch."""
    if isinstance(part, dict):
        return part["state"] if isinstance(part.get("state"), dict) else part
    return None


@function("video.Detection", "merge")
def merge(ctx, parts: list):
    if not isinstance(parts, list):
        ctx.fail(f"parts must be a list of Detection ids, not {type(parts).__name__}")
    states = [_state_of(p) for p in parts]
    # The runtime passes the objects named by the argument in the task (`ctx.object`); only
    # parts it did not pass are read from its object API.
    passed = ctx.task.get("objects") or {}
    states = [s if s is not None or not isinstance(p, str) or p not in passed else passed[p].get("state") or {}
              for p, s in zip(parts, states)]
    ids = [(i, p) for i, (p, s) in enumerate(zip(parts, states)) if s is None]
    for i, p in ids:
        if not isinstance(p, str) or not p:
            ctx.fail(f"parts[{i}] is not a Detection id: {p!r}")
    if ids:
        base = _runtime_url(ctx)
        with ThreadPoolExecutor(max_workers=min(FETCH_CONCURRENCY, len(ids))) as pool:
            fetched = pool.map(lambda item: (item[0], _fetch(ctx, base, item[1])), ids)
            for i, state in fetched:  # re-raises the first failure
                states[i] = state
    faces, frames = [], 0
    for i, state in enumerate(states):
        part_faces = state.get("faces") or []
        if not isinstance(part_faces, list):
            ctx.fail(f"parts[{i}]: faces is not a list")
        faces.extend(part_faces)
        n = state.get("frames_scanned") or 0
        if not isinstance(n, int) or isinstance(n, bool):
            ctx.fail(f"parts[{i}]: frames_scanned is not a whole number: {n!r}")
        frames += n
    out = ctx.output
    out.state["faces"] = faces
    out.state["frames_scanned"] = frames
    return out


if __name__ == "__main__":
    serve()
