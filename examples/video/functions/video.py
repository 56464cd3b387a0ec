"""Function container for `video.Video` (examples/video/video.oaas).

Started by the runtime as `python3 functions/video.py` with PORT set. It uses the Python SDK
(`pip install ./sdk/python`, docs/sdk.md) and OpenCV and numpy from ../requirements.txt.

- `split(segment_s)`: cuts `src` into parts of `segment_s` seconds, one new Video per part
  (title "<title> part i", i from 1, and its `duration_s`), each an mp4 of its own.
- `extract_frames(every_s)`: one JPEG frame every `every_s` seconds, from the first frame on,
  each a new Image (its `data` file).
- `transcode(height)`: a new Video scaled to `height` pixels, keeping the aspect ratio.
- `retitle(title)` (mut): sets the title.

A video is streamed to a temporary file (OpenCV reads from paths), decoded frame by frame, and
each part is uploaded as soon as it is written, so memory stays at a few frames.
"""

import os
import tempfile

from oaas_sdk import function, serve

import _media
from _media import cv2


def _title(ctx) -> str:
    title = ctx.state.get("title")
    return title if isinstance(title, str) else ""


@function("video.Video", "split")
def split(ctx, segment_s: int = 10):
    if segment_s <= 0:
        ctx.fail(f"segment_s must be at least 1 second, not {segment_s}")
    title = _title(ctx)
    with tempfile.TemporaryDirectory(prefix="oaas-video-") as tmp:
        src = _media.download(ctx, "src", tmp, ".mp4")
        with _media.Video(ctx, src) as video:
            per_part = max(1, round(segment_s * video.fps))
            writer, path, count, parts = None, None, 0, 0

            def finish():
                writer.release()
                out = ctx.new_output()
                out.state["title"] = f"{title} part {parts}"
                out.state["duration_s"] = round(count / video.fps, 3)
                with open(path, "rb") as f:
                    out.write_file("src", f, media_type="video/mp4")  # allocates, then uploads
                os.remove(path)

            for i, frame in enumerate(video.frames()):
                if i % per_part == 0:
                    if writer is not None:
                        finish()
                    parts += 1
                    path = os.path.join(tmp, f"part-{parts}.mp4")
                    writer = _media.open_writer(ctx, path, video.fps, frame.shape[1], frame.shape[0])
                    count = 0
                writer.write(frame)
                count += 1
            if writer is None:
                ctx.fail("file 'src' has no frames OpenCV can decode")
            finish()
    # The outputs made with ctx.new_output(), in order.


@function("video.Video", "extract_frames")
def extract_frames(ctx, every_s: int):
    if every_s <= 0:
        ctx.fail(f"every_s must be at least 1 second, not {every_s}")
    with tempfile.TemporaryDirectory(prefix="oaas-video-") as tmp:
        src = _media.download(ctx, "src", tmp, ".mp4")
        with _media.Video(ctx, src) as video:
            step = every_s * video.fps  # frames between two taken frames
            k, target, taken = 0, 0, 0
            for i, frame in enumerate(video.frames()):
                if i < target:
                    continue
                out = ctx.new_output()
                out.write_file("data", _media.encode_jpeg(ctx, frame), media_type="image/jpeg")
                taken += 1
                while target <= i:  # the next frame at k * every_s seconds
                    k += 1
                    target = round(k * step)
            if taken == 0:
                ctx.fail("file 'src' has no frames OpenCV can decode")


@function("video.Video", "transcode")
def transcode(ctx, height: int = 720):
    if height < 2:
        ctx.fail(f"height must be at least 2 pixels, not {height}")
    with tempfile.TemporaryDirectory(prefix="oaas-video-") as tmp:
        src = _media.download(ctx, "src", tmp, ".mp4")
        dst = os.path.join(tmp, "out.mp4")
        with _media.Video(ctx, src) as video:
            if video.height <= 0 or video.width <= 0:
                ctx.fail("file 'src' has no frame size")
            # MPEG-4 wants even sizes: round both down to even.
            new_h = height - height % 2
            new_w = max(2, round(video.width * new_h / video.height))
            new_w -= new_w % 2
            shrink = new_h < video.height
            interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            writer = _media.open_writer(ctx, dst, video.fps, new_w, new_h)
            count = 0
            for frame in video.frames():
                writer.write(cv2.resize(frame, (new_w, new_h), interpolation=interp))
                count += 1
            writer.release()
            if count == 0:
                ctx.fail("file 'src' has no frames OpenCV can decode")
            fps = video.fps
        out = ctx.output
        with open(dst, "rb") as f:
            out.write_file("src", f, media_type="video/mp4")
        out.state["title"] = _title(ctx)
        out.state["duration_s"] = round(count / fps, 3)
        return out


@function("video.Video", "retitle")
def retitle(ctx, title: str):
    ctx.state["title"] = title


if __name__ == "__main__":
    serve()
