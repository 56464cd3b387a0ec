"""Makes the video example's input: a short mp4 of a real face photograph that moves a little.

The photograph is scikit-image's `astronaut` (Eileen Collins, a NASA portrait in the public
domain), which ships inside the scikit-image wheel (skimage/data/astronaut.png): no download.
The clip is written with OpenCV's VideoWriter (`mp4v`) and its path printed.

    python3 examples/video/tools/make_clip.py                 # ./clip.mp4, 7 s at 5 fps, 320x240
    python3 examples/video/tools/make_clip.py /tmp/c.mp4 --seconds 12 --fps 10
    python3 examples/video/tools/make_clip.py blank.mp4 --blank   # the same clip without the photo

Needs: pip install -r examples/video/requirements.txt
"""

import argparse
import math
import os
import sys

import cv2
import numpy as np


def astronaut_bgr() -> np.ndarray:
    """The astronaut photograph (512x512), BGR as OpenCV wants it."""
    try:
        from skimage import data
    except ImportError:
        sys.exit("make_clip.py needs scikit-image for its photograph: pip install -r examples/video/requirements.txt")
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


# The astronaut's head and shoulders, as fractions of the photograph's size (left, top,
# right, bottom): the face (about 0.35-0.53 across, 0.13-0.31 down) with a margin, without the
# flag and the space-shuttle model beside her (the cascade takes the model for a face now and
# then).
HEAD = (0.26, 0.03, 0.64, 0.55)


def frames(seconds: float, fps: float, width: int, height: int, blank: bool = False):
    """The clip's frames: the astronaut's head and shoulders, cut from the photograph scaled to
    5/3 of the frame's height (the face is then about a third of the frame's height), drifting
    over a plain grey background along a small ellipse, one turn over the clip."""
    n = max(1, round(seconds * fps))
    background = np.full((height, width, 3), 96, dtype=np.uint8)
    if blank:
        for _ in range(n):
            yield background.copy()
        return
    size = height * 5 // 3
    photo = cv2.resize(astronaut_bgr(), (size, size), interpolation=cv2.INTER_AREA)
    left, top, right, bottom = (int(round(f * size)) for f in HEAD)
    head = photo[top:bottom, left:right][:height, :width]
    h, w = head.shape[:2]
    room_x, room_y = width - w, height - h
    for i in range(n):
        a = 2 * math.pi * i / n
        x = int(round(room_x / 2 + room_x / 4 * math.sin(a)))
        y = int(round(room_y / 2 * (1 - math.cos(a))))
        frame = background.copy()
        frame[y:y + h, x:x + w] = head
        yield frame


def make_clip(path: str, seconds: float = 7, fps: float = 5, width: int = 320, height: int = 240,
              blank: bool = False) -> str:
    """Writes the clip to `path`; its absolute path."""
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        sys.exit(f"OpenCV cannot write {path} (mp4v): is FFmpeg in this OpenCV build?")
    try:
        for frame in frames(seconds, fps, width, height, blank):
            writer.write(frame)
    finally:
        writer.release()
    return path


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description="Make a short mp4 of a real face photograph (scikit-image's astronaut).")
    p.add_argument("out", nargs="?", default="clip.mp4", help="where to write the clip (default: ./clip.mp4)")
    p.add_argument("--seconds", type=float, default=7, help="length in seconds (default 7)")
    p.add_argument("--fps", type=float, default=5, help="frames per second (default 5)")
    p.add_argument("--width", type=int, default=320, help="frame width in pixels (default 320)")
    p.add_argument("--height", type=int, default=240, help="frame height in pixels (default 240)")
    p.add_argument("--blank", action="store_true", help="leave the photograph out (a clip with no face)")
    a = p.parse_args(argv)
    if a.seconds <= 0 or a.fps <= 0 or a.height < 48 or a.width < a.height * 2 // 3:
        p.error("--seconds and --fps must be positive, --height at least 48 and --width at least 2/3 of it")
    print(make_clip(a.out, a.seconds, a.fps, a.width, a.height, a.blank))


if __name__ == "__main__":
    main()
