"""Function container for `record.Record` (examples/record/record.oaas).

Started by the runtime as `python3 functions/record.py` with PORT set. It uses the Python SDK,
installed with `pip install ./sdk/python` (docs/sdk.md).
"""

from oaas_sdk import function, serve


@function("record.Record", "put")
def put(ctx, key: str, value: str):
    """mut: data[key] = value."""
    data = ctx.state.get("data")
    if not isinstance(data, dict):
        data = {}
    data[key] = value
    ctx.state["data"] = data


@function("record.Record", "increment")
def increment(ctx, by: int = 1) -> int:
    """mut: count += by; answers the new count."""
    ctx.state["count"] = ctx.state.get("count", 0) + by
    return ctx.state["count"]


@function("record.Record", "read_count")
def read_count(ctx) -> int:
    return ctx.state.get("count", 0)


if __name__ == "__main__":
    serve()
