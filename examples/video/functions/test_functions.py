"""Tests of the video example's containers: real containers (subprocesses), real HTTP, real
task documents (docs/protocol.md), a real video of a real face, and a small local server for
the runtime's side (signed blob URLs, output allocation, `GET /api/objects/{id}`).

Run from the repository root (after `pip install ./sdk/python -r examples/video/requirements.txt`):

    python3 -m unittest discover examples/video/functions
"""

import http.client
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.dirname(HERE)
PROTOCOL = "oaas-task/1"

try:
    import cv2
    import numpy as np
except ImportError as e:  # a setup problem: say how to fix it rather than skip quietly
    raise ImportError(f"the video example's tests need OpenCV and numpy: "
                      f"pip install -r examples/video/requirements.txt ({e})") from e

from oaas_sdk.testing import LocalRuntime  # noqa: E402 - after the message above


def _load_tool(name):
    """A module of ../tools by its path (the tools are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLE, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_clip = _load_tool("make_clip")

# Files of each class (examples/video/video.oaas), for upload URLs.
FILES = {"video.Video": ["src"], "video.Image": ["data"], "video.Detection": []}

CLIP_SECONDS, CLIP_FPS = 7, 5
CLIP_FRAMES = CLIP_SECONDS * CLIP_FPS


# ---- containers as subprocesses ---------------------------------------------------------


class Container:
    """`python3 functions/NAME.py` with PORT=0, its port read from the line the SDK prints."""

    def __init__(self, name, env=None):
        script = os.path.join(HERE, name)
        self.proc = subprocess.Popen(
            [sys.executable, script],
            cwd=EXAMPLE,  # where the runtime starts @local commands: the package's directory
            env={**os.environ, "PORT": "0", "HOST": "127.0.0.1", **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.stderr = []
        deadline = time.time() + 60
        while True:
            line = self.proc.stderr.readline().decode(errors="replace")
            if "listening on" in line:
                break
            self.stderr.append(line)
            if not line or time.time() > deadline:
                self.proc.kill()
                raise RuntimeError(f"{name} did not start:\n{''.join(self.stderr)}{self.proc.stderr.read().decode()}")
        self.port = int(line.rsplit(":", 1)[1])
        self.drain = threading.Thread(target=self._drain, daemon=True)
        self.drain.start()

    def _drain(self):
        for line in self.proc.stderr:
            self.stderr.append(line.decode(errors="replace"))

    def post(self, doc):
        headers = {"content-type": "application/json", "ce-specversion": "1.0", "ce-type": "dev.oaas.task.v1",
                   "ce-id": doc["task_id"], "ce-source": f"/classes/{doc['class']}/functions/{doc['function']}"}
        if doc.get("self"):
            headers["ce-subject"] = doc["self"]["id"]
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request("POST", "/", body=json.dumps(doc).encode(), headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            assert resp.getheader("Content-Type") == "application/json", resp.getheader("Content-Type")
            return resp.status, json.loads(body)
        finally:
            conn.close()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.drain.join(timeout=5)
        self.proc.stderr.close()


_counter = [0]
_counter_lock = threading.Lock()


def task(cls, fn, args, obj=None):
    """A task document as the runtime builds it: `output` for `-> Class` functions,
    `outputs` for `-> [Class]` ones (docs/protocol.md)."""
    with _counter_lock:
        _counter[0] += 1
        inv = f"01JD6V00000000000000000{_counter[0]:03d}"
    task_id = f"{inv}.n0"
    returns = {("video.Video", "split"): ["video.Video"], ("video.Video", "extract_frames"): ["video.Image"],
               ("video.Video", "transcode"): "video.Video", ("video.Image", "detect_faces"): "video.Detection",
               ("video.Detection", "merge"): "video.Detection"}.get((cls, fn))
    output = outputs = None
    if isinstance(returns, str):
        oid = f"out-{_counter[0]}"
        output = {"id": oid, "class": returns, "upload": {f: RT.url("PUT", f"objects/{oid}/{f}") for f in FILES[returns]}}
    elif isinstance(returns, list):
        outputs = {"class": returns[0], "allocate_url": RT.allocate_url(task_id, returns[0])}
    return {
        "protocol": PROTOCOL, "task_id": task_id, "invocation_id": inv, "package": "video",
        "class": cls, "function": fn, "declared_in": cls, "args": args, "self": obj,
        "output": output, "outputs": outputs, "deadline_ms": int(time.time() * 1000) + 120_000,
    }


def obj(oid, cls, state, files=None, mut=False):
    """`self` of a task; `files` maps file name to blob key (uploaded beforehand)."""
    return {"id": oid, "class": cls, "version": 1, "state": state, "refs": {},
            "files": {n: {"url": RT.url("GET", k), "media_type": None} for n, k in (files or {}).items()},
            "upload": {f: RT.url("PUT", f"objects/{oid}/v2/{f}") for f in FILES[cls]} if mut else {}}


def video_info(data):
    """(fps, width, height, frames decoded) of an mp4 given as bytes."""
    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(data)
        f.flush()
        cap = cv2.VideoCapture(f.name)
        try:
            assert cap.isOpened(), "OpenCV cannot open the video"
            n = 0
            while cap.read()[0]:
                n += 1
            return cap.get(cv2.CAP_PROP_FPS), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), n
        finally:
            cap.release()


RT = None
C = {}
TMP = None
CLIP = None
BLANK_JPEG = None


def setUpModule():
    global RT, TMP, CLIP, BLANK_JPEG
    TMP = tempfile.TemporaryDirectory(prefix="oaas-video-test-")
    path = make_clip.make_clip(os.path.join(TMP.name, "clip.mp4"), CLIP_SECONDS, CLIP_FPS)
    with open(path, "rb") as f:
        CLIP = f.read()
    ok, buf = cv2.imencode(".jpg", np.full((240, 320, 3), 96, dtype=np.uint8))
    BLANK_JPEG = buf.tobytes()
    RT = LocalRuntime(files=FILES)
    RT.put("clip/src", CLIP)
    RT.put("blank/data", BLANK_JPEG)
    RT.put("garbage/bytes", b"this is not a video, nor an image")
    try:
        C["video"] = Container("video.py")
        C["image"] = Container("image.py")
        C["detection"] = Container("detection.py", {"OAAS_RUNTIME_URL": RT.base + "/"})
        C["detection_alone"] = Container("detection.py", {"OAAS_RUNTIME_URL": ""})
    except Exception:
        tearDownModule()
        raise


def tearDownModule():
    for c in C.values():
        c.stop()
    C.clear()
    if RT is not None:
        RT.close()
    if TMP is not None:
        TMP.cleanup()


CLIP_OBJ = lambda: obj("v1", "video.Video", {"title": "clip", "duration_s": None}, {"src": "clip/src"})  # noqa: E731


class Clip(unittest.TestCase):
    def test_the_clip_is_a_real_video_with_a_face(self):
        self.assertEqual(CLIP[4:8], b"ftyp")
        fps, w, h, n = video_info(CLIP)
        self.assertEqual((fps, w, h, n), (CLIP_FPS, 320, 240, CLIP_FRAMES))

    def test_make_clip_prints_the_path(self):
        out = os.path.join(TMP.name, "cli", "c.mp4")
        r = subprocess.run([sys.executable, os.path.join(EXAMPLE, "tools", "make_clip.py"), out, "--seconds", "2"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), out)
        with open(out, "rb") as f:
            self.assertEqual(video_info(f.read())[3], 2 * CLIP_FPS)


class VideoFunctions(unittest.TestCase):
    def split(self, segment_s):
        status, body = C["video"].post(task("video.Video", "split", {"segment_s": segment_s}, CLIP_OBJ()))
        self.assertEqual(status, 200, body)
        return body["outputs"]

    def test_split_cuts_playable_parts(self):
        outs = self.split(3)  # 35 frames at 5 fps: 15 + 15 + 5
        self.assertEqual([o["state"]["title"] for o in outs], ["clip part 1", "clip part 2", "clip part 3"])
        self.assertEqual([o["state"]["duration_s"] for o in outs], [3.0, 3.0, 1.0])
        frames = []
        for o in outs:
            self.assertTrue(o["id"].startswith("alloc-"), o)
            self.assertEqual(o["files"], ["src"])
            data = RT.get(f"objects/{o['id']}/src")
            self.assertEqual(data[4:8], b"ftyp", "an mp4 starts with its ftyp box")
            self.assertEqual(RT.content_types[f"/blobs/objects/{o['id']}/src"], "video/mp4")
            fps, w, h, n = video_info(data)
            self.assertEqual((fps, w, h), (CLIP_FPS, 320, 240))
            frames.append(n)
        self.assertEqual(frames, [15, 15, 5])

    def test_split_longer_than_the_video_is_one_part(self):
        outs = self.split(30)  # what the macro asks
        self.assertEqual(len(outs), 1)
        self.assertEqual(outs[0]["state"], {"title": "clip part 1", "duration_s": 7.0})
        self.assertEqual(video_info(RT.get(f"objects/{outs[0]['id']}/src"))[3], CLIP_FRAMES)

    def test_split_rejects_bad_input(self):
        status, body = C["video"].post(task("video.Video", "split", {"segment_s": 0}, CLIP_OBJ()))
        self.assertEqual(status, 422, body)
        self.assertIn("segment_s", body["error"]["message"])
        no_src = obj("v2", "video.Video", {"title": "empty"})
        status, body = C["video"].post(task("video.Video", "split", {"segment_s": 10}, no_src))
        self.assertEqual(status, 422, body)
        self.assertIn("no file 'src'", body["error"]["message"])
        garbage = obj("v3", "video.Video", {"title": "bad"}, {"src": "garbage/bytes"})
        status, body = C["video"].post(task("video.Video", "split", {"segment_s": 10}, garbage))
        self.assertEqual(status, 422, body)
        self.assertFalse(body["error"]["retryable"])

    def extract(self, every_s, video=None):
        status, body = C["video"].post(task("video.Video", "extract_frames", {"every_s": every_s}, video or CLIP_OBJ()))
        self.assertEqual(status, 200, body)
        return body["outputs"]

    def test_extract_frames_gives_jpegs(self):
        outs = self.extract(1)  # t = 0, 1, ..., 6 s
        self.assertEqual(len(outs), CLIP_SECONDS)
        for o in outs:
            self.assertEqual(o["files"], ["data"])
            data = RT.get(f"objects/{o['id']}/data")
            self.assertEqual(data[:3], b"\xff\xd8\xff", "a JPEG starts with SOI")
            self.assertEqual(RT.content_types[f"/blobs/objects/{o['id']}/data"], "image/jpeg")
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            self.assertEqual(img.shape, (240, 320, 3))
        self.assertEqual(len(self.extract(2)), 4)  # t = 0, 2, 4, 6 s
        self.assertEqual(len(self.extract(60)), 1)  # the first frame only

    def test_transcode_resizes(self):
        doc = task("video.Video", "transcode", {"height": 120}, CLIP_OBJ())
        status, body = C["video"].post(doc)
        self.assertEqual(status, 200, body)
        out = body["output"]
        self.assertEqual(out["state"], {"title": "clip", "duration_s": 7.0})
        self.assertEqual(out["files"], ["src"])
        oid = doc["output"]["id"]
        self.assertEqual(video_info(RT.get(f"objects/{oid}/src")), (CLIP_FPS, 160, 120, CLIP_FRAMES))

    def test_retitle_changes_only_the_title(self):
        status, body = C["video"].post(task("video.Video", "retitle", {"title": "holiday"},
                                            obj("v1", "video.Video", {"title": "clip", "duration_s": 7.0},
                                                {"src": "clip/src"}, mut=True)))
        self.assertEqual((status, body), (200, {"state": {"title": "holiday"}}))


def image_obj(oid, key):
    return obj(oid, "video.Image", {}, {"data": key})


class ImageFunctions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        status, body = C["video"].post(task("video.Video", "extract_frames", {"every_s": 1}, CLIP_OBJ()))
        assert status == 200, body
        cls.frames = [o["id"] for o in body["outputs"]]

    def detect(self, image, **args):
        status, body = C["image"].post(task("video.Image", "detect_faces", {"min_score": 0.5, **args}, image))
        self.assertEqual(status, 200, body)
        return body["output"]["state"]

    def test_finds_the_astronauts_face_on_every_frame(self):
        for fid in self.frames:
            state = self.detect(image_obj(fid, f"objects/{fid}/data"))
            self.assertEqual(state["frames_scanned"], 1)
            self.assertEqual(len(state["faces"]), 1, state)
            face = state["faces"][0]
            self.assertEqual(sorted(face), ["h", "score", "w", "x", "y"])
            for k in "xywh":
                self.assertIsInstance(face[k], int)
            # The face is about a third of the frame's height, inside the frame.
            self.assertTrue(50 <= face["w"] <= 110 and face["w"] == face["h"], face)
            self.assertTrue(0 <= face["x"] and face["x"] + face["w"] <= 320, face)
            self.assertTrue(0 <= face["y"] and face["y"] + face["h"] <= 240, face)
            self.assertTrue(0.9 < face["score"] <= 1.0, face)

    def test_no_face_on_a_blank_frame(self):
        self.assertEqual(self.detect(image_obj("blank", "blank/data")), {"faces": [], "frames_scanned": 1})

    def test_min_score_drops_faces(self):
        fid = self.frames[0]
        self.assertEqual(self.detect(image_obj(fid, f"objects/{fid}/data"), min_score=1.01)["faces"], [])
        self.assertEqual(len(self.detect(image_obj(fid, f"objects/{fid}/data"), min_score=0.0)["faces"]), 1)

    def test_concurrent_tasks(self):
        # The runtime fans detect_faces out over the frames at once.
        images = [image_obj(fid, f"objects/{fid}/data") for fid in self.frames] * 3
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda im: self.detect(im), images))
        self.assertTrue(all(len(r["faces"]) == 1 for r in results), results)

    def test_not_an_image(self):
        status, body = C["image"].post(task("video.Image", "detect_faces", {"min_score": 0.5}, image_obj("g", "garbage/bytes")))
        self.assertEqual(status, 422, body)
        self.assertIn("not an image", body["error"]["message"])


def detection(oid, faces, frames):
    """A Detection as `GET /api/objects/{id}` shows it."""
    return {"id": oid, "class": "video.Detection", "version": 1,
            "state": {"faces": faces, "frames_scanned": frames}, "refs": {}, "files": {}}


class MergeFunction(unittest.TestCase):
    A = {"x": 1, "y": 2, "w": 30, "h": 30, "score": 0.99}
    B = {"x": 10, "y": 20, "w": 40, "h": 40, "score": 0.75}
    C = {"x": 5, "y": 5, "w": 50, "h": 50, "score": 1.0}

    @classmethod
    def setUpClass(cls):
        RT.objects.update({"d1": detection("d1", [cls.A, cls.B], 3), "d2": detection("d2", [], 4),
                           "d3": detection("d3", [cls.C], 1)})

    def merge(self, parts, container="detection"):
        return C[container].post(task("video.Detection", "merge", {"parts": parts}))

    def test_concatenates_faces_and_sums_frames(self):
        status, body = self.merge(["d1", "d2", "d3"])
        self.assertEqual(status, 200, body)
        self.assertEqual(body["output"]["state"], {"faces": [self.A, self.B, self.C], "frames_scanned": 8})
        self.assertTrue({"d1", "d2", "d3"} <= set(RT.object_gets))

    def test_no_parts(self):
        status, body = self.merge([])
        self.assertEqual((status, body["output"]["state"]), (200, {"faces": [], "frames_scanned": 0}))

    def test_inline_states_need_no_runtime(self):
        status, body = self.merge([{"faces": [], "frames_scanned": 2}, {"state": {"faces": [], "frames_scanned": 3}}],
                                  container="detection_alone")
        self.assertEqual((status, body["output"]["state"]), (200, {"faces": [], "frames_scanned": 5}))

    def test_unknown_part_fails_without_retry(self):
        status, body = self.merge(["d1", "nope"])
        self.assertEqual(status, 422, body)
        self.assertIn("nope", body["error"]["message"])
        self.assertFalse(body["error"]["retryable"])

    def test_without_the_runtime_url(self):
        status, body = self.merge(["d1"], container="detection_alone")
        self.assertEqual(status, 422, body)
        self.assertIn("OAAS_RUNTIME_URL", body["error"]["message"])


class Macro(unittest.TestCase):
    def test_detect_faces_macro_by_hand(self):
        """What `Video.detect_faces(every_s: 1)` runs, node by node, as the runtime would."""
        status, body = C["video"].post(task("video.Video", "split", {"segment_s": 30}, CLIP_OBJ()))
        self.assertEqual(status, 200, body)
        parts = body["outputs"]
        frames = []
        for p in parts:
            video = obj(p["id"], "video.Video", p["state"], {"src": f"objects/{p['id']}/src"})
            status, body = C["video"].post(task("video.Video", "extract_frames", {"every_s": 1}, video))
            self.assertEqual(status, 200, body)
            frames.extend(o["id"] for o in body["outputs"])

        def detect(fid):
            doc = task("video.Image", "detect_faces", {"min_score": 0.5}, image_obj(fid, f"objects/{fid}/data"))
            status, body = C["image"].post(doc)
            self.assertEqual(status, 200, body)
            oid = doc["output"]["id"]
            state = body["output"]["state"]
            RT.objects[oid] = detection(oid, state["faces"], state["frames_scanned"])
            return oid

        with ThreadPoolExecutor(4) as pool:
            found = list(pool.map(detect, frames))
        status, body = C["detection"].post(task("video.Detection", "merge", {"parts": found}))
        self.assertEqual(status, 200, body)
        state = body["output"]["state"]
        self.assertEqual(state["frames_scanned"], CLIP_SECONDS)
        self.assertEqual(len(state["faces"]), CLIP_SECONDS, "one face on every frame")


if __name__ == "__main__":
    unittest.main()
