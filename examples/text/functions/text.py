"""Function container for `text.Text` (examples/text/text.oaas).

Started by the runtime as `python3 functions/text.py` with PORT set. It uses the Python SDK,
installed with `pip install ./sdk/python` (docs/sdk.md).

Every function makes a new Text object (the output) instead of changing this one: the
output's `body` file is uploaded to its signed URL and its `length` (in characters) is set.
"""

from oaas_sdk import function, serve


def _body(ctx) -> str:
    """This text's body; a text whose body was never uploaded is empty."""
    return ctx.read_file("body", default=b"").decode("utf-8")


def _emit(ctx, text: str):
    out = ctx.output
    out.write_file("body", text.encode("utf-8"), media_type="text/plain")
    out.state["length"] = len(text)
    return out


@function("text.Text", "concat")
def concat(ctx, append: str):
    return _emit(ctx, _body(ctx) + append)


@function("text.Text", "upper")
def upper(ctx):
    return _emit(ctx, _body(ctx).upper())


@function("text.Text", "word_count")
def word_count(ctx) -> int:
    return len(_body(ctx).split())


if __name__ == "__main__":
    serve()
