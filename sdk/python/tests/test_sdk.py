"""Tests of the Python SDK: real containers (subprocesses), real HTTP, a real blob server.

Run from the repository root: python3 -m unittest discover sdk/python/tests
"""

import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(REPO, "sdk", "python"))

from oaas_sdk.testing import LocalRuntime  # noqa: E402
PROTOCOL = "oaas-task/1"


# ---- containers as subprocesses ---------------------------------------------------------


class Container:
    """`python3 script` with PORT=0, its port read from the line the SDK prints."""

    def __init__(self, script):
        self.log = tempfile.TemporaryFile()
        # Started from another directory: the script must find the SDK on its own.
        self.proc = subprocess.Popen(
            [sys.executable, script],
            cwd=tempfile.gettempdir(),
            env={**os.environ, "PORT": "0", "HOST": "127.0.0.1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        line = self.proc.stderr.readline().decode()
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError(f"{script} did not start: {line}{self.proc.stderr.read().decode()}")
        self.port = int(line.rsplit(":", 1)[1])
        # Keep draining stderr (tracebacks of the error tests) so the pipe never fills.
        self.stderr = []
        threading.Thread(target=self._drain, daemon=True).start()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def _drain(self):
        for line in self.proc.stderr:
            self.stderr.append(line.decode(errors="replace"))

    def post(self, doc, raw=None):
        body = raw if raw is not None else json.dumps(doc).encode()
        headers = {"content-type": "application/json", "ce-specversion": "1.0", "ce-type": "dev.oaas.task.v1"}
        if doc:
            headers["ce-id"] = doc["task_id"]
            headers["ce-source"] = f"/classes/{doc['class']}/functions/{doc['function']}"
            if doc.get("self"):
                headers["ce-subject"] = doc["self"]["id"]
        # One kept-alive connection for every request of a test class.
        self.conn.request("POST", "/", body=body, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        self.assert_json(resp)
        return resp.status, json.loads(data)

    def get(self, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", path)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, data

    @staticmethod
    def assert_json(resp):
        assert resp.getheader("Content-Type") == "application/json", resp.getheader("Content-Type")

    def stop(self):
        self.conn.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_counter = [0]


def task(cls, fn, args=None, obj=None, output=None, outputs=None):
    _counter[0] += 1
    inv = f"01JD6T00000000000000000{_counter[0]:03d}"
    return {
        "protocol": PROTOCOL,
        "task_id": f"{inv}.n0",
        "invocation_id": inv,
        "package": cls.split(".")[0],
        "class": cls,
        "function": fn,
        "args": args or {},
        "self": obj,
        "output": output,
        "outputs": outputs,
        "deadline_ms": int(time.time() * 1000) + 30_000,
    }


def obj(oid, cls, state, files=None, upload=None, version=1, refs=None):
    return {"id": oid, "class": cls, "version": version, "state": state, "refs": refs or {},
            "files": files or {}, "upload": upload or {}}


BLOBS = None


def setUpModule():
    global BLOBS
    # The runtime's side: signed blob URLs and output allocation (`test.Doc` has one file).
    BLOBS = LocalRuntime(files={"test.Doc": ["body"]})


def tearDownModule():
    BLOBS.close()


# ---- examples/record --------------------------------------------------------------------


class RecordExample(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Container(os.path.join(REPO, "examples", "record", "functions", "record.py"))

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def test_health(self):
        self.assertEqual(self.c.get("/healthz")[0], 200)
        self.assertEqual(self.c.get("/")[0], 200)
        self.assertEqual(self.c.get("/nope")[0], 404)

    def test_protocol_md_exchange(self):
        # The complete exchange written in docs/protocol.md, byte for byte in meaning.
        doc = {"protocol": "oaas-task/1", "task_id": "01JD6T0000000000000000000A.n0",
               "invocation_id": "01JD6T0000000000000000000A", "package": "record",
               "class": "record.Record", "function": "increment", "args": {"by": 1},
               "self": {"id": "0193a1c2-0000-7000-8000-000000000001", "class": "record.Record",
                        "version": 7, "state": {"data": {}, "count": 41}, "refs": {}, "files": {},
                        "upload": {}},
               "output": None, "outputs": None, "deadline_ms": 1764170400000}
        self.assertEqual(self.c.post(doc), (200, {"state": {"count": 42}, "value": 42}))

    def test_put_sends_only_data(self):
        status, body = self.c.post(task("record.Record", "put", {"key": "k1", "value": "v1"},
                                        obj("o1", "record.Record", {"data": {"a": "b"}, "count": 3})))
        self.assertEqual(status, 200)
        self.assertEqual(body, {"state": {"data": {"a": "b", "k1": "v1"}}})

    def test_put_same_value_is_no_patch(self):
        status, body = self.c.post(task("record.Record", "put", {"key": "a", "value": "b"},
                                        obj("o1", "record.Record", {"data": {"a": "b"}, "count": 3})))
        self.assertEqual((status, body), (200, {}))

    def test_increment_from_missing_count_and_read(self):
        status, body = self.c.post(task("record.Record", "increment", {"by": 5},
                                        obj("o2", "record.Record", {})))
        self.assertEqual((status, body), (200, {"state": {"count": 5}, "value": 5}))
        status, body = self.c.post(task("record.Record", "read_count", {},
                                        obj("o2", "record.Record", {"count": 9, "data": {}})))
        self.assertEqual((status, body), (200, {"value": 9}))

    def test_unknown_function_is_404(self):
        status, body = self.c.post(task("record.Record", "nope", {}, obj("o", "record.Record", {})))
        self.assertEqual(status, 404)
        self.assertEqual(body["error"]["retryable"], False)
        self.assertIn("record.Record.nope", body["error"]["message"])

    def test_bad_requests_are_400(self):
        status, body = self.c.post(None, raw=b"{not json")
        self.assertEqual(status, 400)
        self.assertIn("not JSON", body["error"]["message"])
        doc = task("record.Record", "read_count", {}, obj("o", "record.Record", {}))
        doc["protocol"] = "oaas-task/9"
        status, body = self.c.post(doc)
        self.assertEqual(status, 400)
        self.assertIn("oaas-task/9", body["error"]["message"])

    def test_missing_argument_is_500_with_message(self):
        status, body = self.c.post(task("record.Record", "put", {"key": "k"}, obj("o", "record.Record", {})))
        self.assertEqual(status, 500)
        self.assertEqual(body["error"]["retryable"], False)
        self.assertIn("value", body["error"]["message"])

    def test_concurrent_requests(self):
        results = []

        def one(i):
            conn = http.client.HTTPConnection("127.0.0.1", self.c.port, timeout=30)
            for j in range(10):
                doc = task("record.Record", "increment", {"by": 1},
                           obj(f"c{i}", "record.Record", {"count": j}))
                conn.request("POST", "/", body=json.dumps(doc), headers={"content-type": "application/json"})
                results.append(json.loads(conn.getresponse().read())["value"] == j + 1)
            conn.close()

        threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(len(results), 80)
        self.assertTrue(all(results))


# ---- examples/text ----------------------------------------------------------------------


class TextExample(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Container(os.path.join(REPO, "examples", "text", "functions", "text.py"))

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def text(self, oid, body):
        files = {}
        if body is not None:
            BLOBS.put(f"objects/{oid}/v1/body", body)
            files = {"body": {"url": BLOBS.url("GET", f"objects/{oid}/v1/body"), "media_type": "text/plain"}}
        return obj(oid, "text.Text", {"length": len(body or b"")}, files=files)

    def out(self, oid):
        return {"id": oid, "class": "text.Text", "upload": {"body": BLOBS.url("PUT", f"objects/{oid}/v1/body")}}

    def test_concat_uploads_the_new_body(self):
        status, body = self.c.post(task("text.Text", "concat", {"append": " world"},
                                        self.text("t1", b"hello"), output=self.out("t1-out")))
        self.assertEqual(status, 200, body)
        self.assertEqual(body, {"output": {"state": {"length": 11}, "files": ["body"]}})
        self.assertEqual(BLOBS.get("objects/t1-out/v1/body"), b"hello world")
        self.assertEqual(BLOBS.content_types["/blobs/objects/t1-out/v1/body"], "text/plain")

    def test_concat_on_a_text_without_body(self):
        status, body = self.c.post(task("text.Text", "concat", {"append": "née"},
                                        self.text("t2", None), output=self.out("t2-out")))
        self.assertEqual(status, 200, body)
        self.assertEqual(body["output"]["state"], {"length": 3})
        self.assertEqual(BLOBS.get("objects/t2-out/v1/body"), "née".encode())

    def test_upper_and_word_count(self):
        status, body = self.c.post(task("text.Text", "upper", {}, self.text("t3", b"Three small words"),
                                        output=self.out("t3-out")))
        self.assertEqual(status, 200, body)
        self.assertEqual(BLOBS.get("objects/t3-out/v1/body"), b"THREE SMALL WORDS")
        status, body = self.c.post(task("text.Text", "word_count", {}, self.text("t4", b" one\ttwo\n three  four ")))
        self.assertEqual((status, body), (200, {"value": 4}))

    def test_tampered_url_is_a_clean_failure(self):
        doc = task("text.Text", "word_count", {}, self.text("t5", b"x"))
        doc["self"]["files"]["body"]["url"] = BLOBS.url("GET", "objects/t5/v1/body", sig="forged")
        status, body = self.c.post(doc)
        self.assertEqual(status, 422)
        self.assertEqual(body["error"]["retryable"], False)
        self.assertIn("403", body["error"]["message"])

    def test_blob_store_down_is_retryable(self):
        doc = task("text.Text", "word_count", {}, self.text("t6", b"x"))
        doc["self"]["files"]["body"]["url"] = "http://127.0.0.1:9/blobs/x?method=GET&sig=good"
        status, body = self.c.post(doc)
        self.assertEqual(status, 503)
        self.assertEqual(body["error"]["retryable"], True)


# ---- the SDK's other features, through a test container ---------------------------------


class Fixture(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Container(os.path.join(HERE, "fixture_container.py"))

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def doc_obj(self, oid, body=b"some words here", state=None):
        BLOBS.put(f"objects/{oid}/v1/body", body)
        return obj(oid, "test.Doc", state if state is not None else {"shouts": 0, "meta": {"last": None}},
                   files={"body": {"url": BLOBS.url("GET", f"objects/{oid}/v1/body"), "media_type": "text/plain"}},
                   upload={"body": BLOBS.url("PUT", f"objects/{oid}/v2/body")})

    def test_mut_with_files(self):
        status, body = self.c.post(task("test.Doc", "shout", {"suffix": "?"}, self.doc_obj("d1", b"hey")))
        self.assertEqual(status, 200, body)
        self.assertEqual(body, {"state": {"shouts": 1, "meta": {"last": "?"}}, "files": ["body"], "value": 3})
        self.assertEqual(BLOBS.get("objects/d1/v2/body"), b"HEY?")
        self.assertEqual(BLOBS.get("objects/d1/v1/body"), b"hey")

    def test_list_outputs_allocate_only_when_files_are_written(self):
        before = len(BLOBS.allocated)
        status, body = self.c.post(task("test.Doc", "split", {"min_len": 4}, self.doc_obj("d2", b"a quick fox jumps"),
                                        outputs={"class": "test.Doc", "allocate_url": BLOBS.allocate_url("t", "test.Doc")}))
        self.assertEqual(status, 200, body)
        outs = body["outputs"]
        self.assertEqual([o["state"]["word"] for o in outs], ["a", "quick", "fox", "jumps"])
        self.assertEqual(len(BLOBS.allocated) - before, 2)
        self.assertNotIn("id", outs[0])
        self.assertNotIn("files", outs[0])
        self.assertEqual(outs[1]["files"], ["body"])
        self.assertEqual(BLOBS.get(f"objects/{outs[1]['id']}/body"), b"quick")
        self.assertEqual(BLOBS.get(f"objects/{outs[3]['id']}/body"), b"jumps")
        self.assertTrue(all(o["refs"] == {"parent": "d2"} for o in outs))

    def test_returned_list_of_outputs_wins(self):
        status, body = self.c.post(task("test.Doc", "pick", {}, self.doc_obj("d3"),
                                        outputs={"class": "test.Doc", "allocate_url": BLOBS.allocate_url("t", "test.Doc")}))
        self.assertEqual(status, 200, body)
        self.assertEqual([o["state"]["n"] for o in body["outputs"]], [3, 1])
        self.assertTrue(body["outputs"][0]["id"].startswith("alloc-"))
        self.assertNotIn("id", body["outputs"][1])
        self.assertNotIn("value", body)

    def test_output_from_a_returned_dict(self):
        status, body = self.c.post(task("test.Doc", "copy_as", {"title": "t"}, self.doc_obj("d4", b"12345"),
                                        output={"id": "d4-out", "class": "test.Doc", "upload": {}}))
        self.assertEqual((status, body), (200, {"output": {"state": {"title": "t", "size": 5}}}))

    def test_another_object_passed_in_an_argument(self):
        BLOBS.put("objects/o2/v3/body", b"their words")
        other = obj("o2", "test.Doc", {"title": "theirs"}, version=3,
                    files={"body": {"url": BLOBS.url("GET", "objects/o2/v3/body"), "media_type": "text/plain"}})
        doc = task("test.Doc", "join_with", {"other": "o2"}, self.doc_obj("d9"))
        doc["objects"] = {"o2": other}
        status, body = self.c.post(doc)
        self.assertEqual((status, body), (200, {"value": {"title": "theirs", "body": "their words"}}))
        # An id that was not passed, and a file the other object does not have, are errors.
        status, body = self.c.post(task("test.Doc", "join_with", {"other": "o3"}, self.doc_obj("d10")))
        self.assertEqual(status, 422, body)
        self.assertIn("object 'o3' was not passed to this call", body["error"]["message"])
        other["files"] = {}
        doc = task("test.Doc", "join_with", {"other": "o2"}, self.doc_obj("d11"))
        doc["objects"] = {"o2": other}
        status, body = self.c.post(doc)
        self.assertEqual(status, 422, body)
        self.assertIn("has no uploaded file 'body'", body["error"]["message"])

    def test_static_function(self):
        status, body = self.c.post(task("test.Doc", "make", {"title": "new"}, None,
                                        output={"id": "m1", "class": "test.Doc", "upload": {}}))
        self.assertEqual((status, body), (200, {"output": {"state": {"title": "new"}, "refs": {"origin": ["a", "b"]}}}))

    def test_fallback_on_the_function_name(self):
        doc = task("other.Thing", "echo", {"x": [1, 2]}, obj("e1", "other.Thing", {}, version=4))
        status, body = self.c.post(doc)
        self.assertEqual(status, 200)
        self.assertEqual(body["value"], {"class": "other.Thing", "function": "echo", "args": {"x": [1, 2]},
                                         "task_id": doc["task_id"], "version": 4})
        self.assertEqual(self.c.post(task("test.Doc", "nothing", {"ignored": 1}, obj("e2", "test.Doc", {}))),
                         (200, {}))

    def test_exception_is_500_not_retryable(self):
        status, body = self.c.post(task("test.Doc", "boom", {}, self.doc_obj("d5")))
        self.assertEqual(status, 500)
        self.assertEqual(body, {"error": {"message": "ValueError: kaput", "retryable": False}})
        # The container keeps serving.
        self.assertEqual(self.c.get("/healthz")[0], 200)

    def test_fail_retryable_and_not(self):
        status, body = self.c.post(task("test.Doc", "flaky", {}, self.doc_obj("d6")))
        self.assertEqual((status, body), (503, {"error": {"message": "storage is busy", "retryable": True}}))
        status, body = self.c.post(task("test.Doc", "refuse", {"why": "policy"}, self.doc_obj("d7")))
        self.assertEqual((status, body), (422, {"error": {"message": "refused: policy", "retryable": False}}))

    def test_writing_a_file_without_upload_urls(self):
        o = self.doc_obj("d8")
        o["upload"] = {}
        status, body = self.c.post(task("test.Doc", "write_without_mut", {}, o))
        self.assertEqual(status, 422)
        self.assertIn("only a mut function", body["error"]["message"])

    def test_result_that_is_not_json(self):
        status, body = self.c.post(task("test.Doc", "bad_value", {}, self.doc_obj("d9")))
        self.assertEqual(status, 500)
        self.assertIn("not JSON", body["error"]["message"])

    def test_inherited_function_dispatches_on_declared_in(self):
        doc = task("test.SubDoc", "flaky", {}, obj("s1", "test.SubDoc", {}))
        self.assertEqual(self.c.post(doc)[0], 404)
        doc["declared_in"] = "test.Doc"
        self.assertEqual(self.c.post(doc)[0], 503)

    def test_class_from_ce_source_when_body_has_none(self):
        doc = task("test.Doc", "flaky", {}, self.doc_obj("d10"))
        del doc["class"]
        status, body = self.c.post({**doc, "class": "test.Doc"}, raw=json.dumps(doc).encode())
        self.assertEqual(status, 503)


if __name__ == "__main__":
    unittest.main()
