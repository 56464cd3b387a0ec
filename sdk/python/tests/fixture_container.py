"""A container for the SDK's tests: files of self, list outputs, errors, static functions.

Classes are made up for the tests (`test.Doc`); the runtime is not involved.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from oaas_sdk import function, serve  # noqa: E402


@function("test.Doc", "shout")
def shout(ctx, suffix: str = "!"):
    """mut: the body file upper-cased, the state counting the shouts."""
    body = ctx.read_file("body").decode()
    ctx.write_file("body", (body.upper() + suffix).encode(), media_type="text/plain")
    ctx.state["shouts"] = ctx.state.get("shouts", 0) + 1
    ctx.state["meta"]["last"] = suffix  # nested change: the whole top-level key is sent
    return len(body)


@function("test.Doc", "split")
def split(ctx, min_len: int = 4):
    """-> [Doc]: one output per word; long words get a body file (so an allocation)."""
    for word in ctx.read_file("body").decode().split():
        out = ctx.new_output()
        out.state["word"] = word
        if len(word) >= min_len:
            out.write_file("body", word.encode())
        out.refs["parent"] = ctx.self_id


@function("test.Doc", "pick")
def pick(ctx):
    """-> [Doc] returning an explicit list (the second made output is left out)."""
    a = ctx.new_output()
    a.state["n"] = 1
    ctx.new_output().state["n"] = 2
    c = ctx.new_output(allocate=True)
    c.state["n"] = 3
    return [c, a]


@function("test.Doc", "copy_as")
def copy_as(ctx, title: str):
    """-> Doc given as a dict: the output's state."""
    return {"title": title, "size": len(ctx.read_file("body", default=b""))}


@function("test.Doc")
def make(ctx, title: str):
    """static -> Doc (the function name comes from the Python name)."""
    assert ctx.self_id is None and ctx.state == {}
    ctx.output.state["title"] = title
    ctx.output.refs["origin"] = ["a", "b"]
    return ctx.output


@function("test.Doc", "join_with")
def join_with(ctx, other: str):
    """Reads another object passed in an argument: its state and its body file."""
    them = ctx.object(other)
    return {"title": them["state"]["title"], "body": ctx.read_object_file(other, "body").decode()}


@function("test.Doc", "boom")
def boom(ctx):
    raise ValueError("kaput")


@function("test.Doc", "flaky")
def flaky(ctx):
    ctx.fail("storage is busy", retryable=True)


@function("test.Doc", "refuse")
def refuse(ctx, why: str):
    ctx.fail(f"refused: {why}")


@function("test.Doc", "write_without_mut")
def write_without_mut(ctx):
    ctx.write_file("body", b"x")


@function("echo")
def echo(ctx, **args):
    """Any class: answers what it got."""
    return {"class": ctx.class_name, "function": ctx.function, "args": args,
            "task_id": ctx.task_id, "version": ctx.self_version}


@function
def nothing(ctx):
    """Answers no value at all."""


@function("test.Doc", "bad_value")
def bad_value(ctx):
    return {1, 2}


if __name__ == "__main__":
    serve()
