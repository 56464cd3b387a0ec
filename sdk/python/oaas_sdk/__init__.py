"""OaaS function containers in Python (standard library only).

    from oaas_sdk import function, serve

    @function("record.Record", "increment")
    def increment(ctx, by: int = 1):
        ctx.state["count"] = ctx.state.get("count", 0) + by
        return ctx.state["count"]

    serve()  # listens on $PORT

See docs/sdk.md and docs/protocol.md.
"""

from ._core import (
    PROTOCOL,
    Context,
    FunctionError,
    Functions,
    Output,
    default_registry,
    function,
    handle,
    make_server,
    serve,
)

__version__ = "0.1.0"

__all__ = [
    "PROTOCOL",
    "Context",
    "FunctionError",
    "Functions",
    "Output",
    "default_registry",
    "function",
    "handle",
    "make_server",
    "serve",
]
