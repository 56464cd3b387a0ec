"""Function container for `video.Image` (examples/video/video.oaas).

Started by the runtime as `python3 functions/image.py` with PORT set. It uses the Python SDK
(`pip install ./sdk/python`, docs/sdk.md) and OpenCV and numpy from ../requirements.txt.

`detect_faces(min_score)` runs OpenCV's frontal-face Haar cascade
(`haarcascade_frontalface_default.xml`, shipped inside the opencv-python-headless wheel) on
the image's `data` file and answers a new Detection: one `Face {x, y, w, h, score}` per face
(pixels of the image) and `frames_scanned: 1`.

The score
---------
A Haar cascade is a chain of boosted classifiers ("stages"); a window is a face when, at every
stage, the sum of its weak classifiers' votes reaches the stage's threshold. With
`outputRejectLevels=True`, `detectMultiScale3` also answers, for each face (a group of
overlapping windows), the vote sum F of the cascade's *last* stage (the largest in the group).
Boosting fits an additive logistic model: the vote sum estimates half the log-odds that the
window is a face (Friedman, Hastie and Tibshirani, "Additive logistic regression: a
statistical view of boosting", Annals of Statistics, 2000), so

    score = 1 / (1 + exp(-2 F))

a number in [0, 1] that grows with the detector's confidence. F = 0 (score 0.5) is the
boosted classifier's own decision boundary; the cascade's stage thresholds sit below it
(this cascade's last one is about -3) so as to keep nearly every face at each stage, so a
window can pass the cascade with F < 0. The default `min_score = 0.5` drops those weak
detections; a higher one asks for more (0.9 for F >= 1.1, 0.99 for F >= 2.3). On the example
clip the astronaut's face scores F between 3.8 and 7.2 (score > 0.999). The score is
calibrated in form only: the cascade was not trained for calibrated probabilities (and its
last stage saw only windows that passed the others). An OpenCV build that answered no
weights would score every face 1.0.
"""

import math
import os
import threading

from oaas_sdk import function, serve

from _media import cv2, np

CASCADE = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
# The usual parameters of OpenCV's face-detection tutorial: a 10% image pyramid, and a face
# kept only where at least 5 overlapping windows agree (fewer false faces on textures).
SCALE_FACTOR = 1.1
MIN_NEIGHBORS = 5
MIN_SIZE = (24, 24)  # the cascade's window


if not os.path.exists(CASCADE):  # pragma: no cover - a broken install
    raise RuntimeError(f"the Haar cascade is missing: {CASCADE}; reinstall opencv-python-headless<5")

# A CascadeClassifier is not safe to share between threads; the SDK serves tasks on threads.
_local = threading.local()


def _cascade():
    c = getattr(_local, "cascade", None)
    if c is None:
        c = cv2.CascadeClassifier(CASCADE)
        if c.empty():
            raise RuntimeError(f"OpenCV could not load the cascade {CASCADE}")
        _local.cascade = c
    return c


def score_of(weight) -> float:
    """The normalised confidence of one face (see the module's docs)."""
    if weight is None:
        return 1.0
    return 1.0 / (1.0 + math.exp(-2.0 * max(-50.0, min(50.0, float(weight)))))


def detect(gray, min_score: float = 0.5):
    """Faces of a grayscale image, as Face records sorted top to bottom, left to right."""
    found = _cascade().detectMultiScale3(gray, scaleFactor=SCALE_FACTOR, minNeighbors=MIN_NEIGHBORS,
                                         minSize=MIN_SIZE, outputRejectLevels=True)
    rects, _levels, weights = found
    rects = np.asarray(rects).reshape(-1, 4)
    weights = np.asarray(weights, dtype=float).reshape(-1)
    faces = []
    for i, (x, y, w, h) in enumerate(rects.tolist()):
        score = score_of(weights[i] if i < len(weights) else None)
        if score >= min_score:
            faces.append({"x": int(x), "y": int(y), "w": int(w), "h": int(h), "score": round(score, 4)})
    faces.sort(key=lambda f: (f["y"], f["x"]))
    return faces


@function("video.Image", "detect_faces")
def detect_faces(ctx, min_score: float = 0.5):
    data = ctx.read_file("data")
    gray = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if gray is None:
        ctx.fail(f"file 'data' of image {ctx.self_id} is not an image OpenCV can decode ({len(data)} bytes)")
    out = ctx.output
    out.state["faces"] = detect(gray, float(min_score))
    out.state["frames_scanned"] = 1
    return out


if __name__ == "__main__":
    serve()
