"""Helpers shared by the video example's OpenCV containers (video.py, image.py).

- OpenCV and numpy imported with a plain message when they are missing (see
  ../requirements.txt; the SDK is installed with `pip install ./sdk/python`).
- Streaming a file of `self` to a local temporary file (OpenCV reads videos from paths, and a
  video need not fit in memory), without a proxy (the runtime's URLs are on 127.0.0.1), with
  failures turned into protocol errors:
  `4xx` is the caller's fault (not retried), `5xx`, `429` and unreachable hosts are retried.
- OpenCV video I/O: open, iterate frames, write an mp4 (`mp4v`, MPEG-4 Part 2, which the
  FFmpeg inside the `opencv-python-headless` wheels can both write and read back).
"""

from __future__ import annotations

import os
import shutil
import sys
import urllib.error
import urllib.request
from typing import Iterator, Optional

from oaas_sdk import FunctionError

try:
    import cv2
    import numpy as np  # noqa: F401
except ImportError as e:  # pragma: no cover - a setup problem, said plainly in the container's log
    sys.stderr.write(
        f"the video example needs OpenCV and numpy: pip install -r examples/video/requirements.txt ({e})\n")
    raise

MP4_FOURCC = cv2.VideoWriter_fourcc(*"mp4v")

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_DEFAULT_TIMEOUT_S = 60.0


def _timeout(ctx) -> float:
    left = ctx.remaining() if ctx is not None else None
    if left is None:
        return _DEFAULT_TIMEOUT_S
    return max(0.5, left)


def http_get(url: str, what: str, ctx=None, dest=None) -> Optional[bytes]:
    """GET `url`: its body, or streamed into the binary file `dest` (then None)."""
    try:
        with _OPENER.open(urllib.request.Request(url, method="GET"), timeout=_timeout(ctx)) as resp:
            if dest is None:
                return resp.read()
            shutil.copyfileobj(resp, dest, 1 << 20)
            return None
    except urllib.error.HTTPError as e:
        try:
            detail = e.read()[:300].decode("utf-8", "replace")
        except Exception:  # noqa: BLE001 - best effort detail
            detail = ""
        raise FunctionError(f"{what}: GET answered {e.code}{': ' + detail if detail else ''}",
                            retryable=e.code >= 500 or e.code == 429) from e
    except (urllib.error.URLError, OSError) as e:
        raise FunctionError(f"{what}: GET failed: {getattr(e, 'reason', e)}", retryable=True) from e


def download(ctx, name: str, directory: str, suffix: str) -> str:
    """Streams file `name` of `self` to a new file in `directory`; its path."""
    if not ctx.has_file(name):
        ctx.fail(f"object {ctx.self_id} has no file {name!r} yet: upload it first")
    path = os.path.join(directory, f"{name}{suffix}")
    with open(path, "wb") as f:
        http_get(ctx.file_url(name), f"read file {name!r}", ctx, dest=f)
    return path


class Video:
    """An mp4 opened with OpenCV: fps, size, and its frames (BGR arrays) in order."""

    def __init__(self, ctx, path: str):
        self.cap = cv2.VideoCapture(path)
        if not self.cap.isOpened():
            self.cap.release()
            ctx.fail("file 'src' is not a video OpenCV can read")
        self.fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not self.fps > 0:
            self.cap.release()
            ctx.fail("file 'src' has no frame rate: not a video OpenCV can read")
        self.width = int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT))

    def frames(self) -> Iterator["np.ndarray"]:
        while True:
            ok, frame = self.cap.read()
            if not ok:
                return
            yield frame

    def close(self) -> None:
        self.cap.release()

    def __enter__(self) -> "Video":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_writer(ctx, path: str, fps: float, width: int, height: int):
    writer = cv2.VideoWriter(path, MP4_FOURCC, fps, (width, height))
    if not writer.isOpened():
        ctx.fail(f"OpenCV cannot write an mp4 of {width}x{height} at {fps} fps (is FFmpeg in this OpenCV build?)")
    return writer


def encode_jpeg(ctx, frame, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        ctx.fail("OpenCV could not encode a frame as JPEG")
    return buf.tobytes()
