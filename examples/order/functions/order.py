"""Function container for `order.Item` and `order.Order` (examples/order/order.oaas).

Started by the runtime as `python3 functions/order.py` with PORT set. It uses the Python SDK,
installed with `pip install ./sdk/python` (docs/sdk.md). Decisions, the approval wait and the
compensation are in the macro: these functions hold only what touches stock and cards.
"""

from oaas_sdk import FunctionError, function, serve


def _holds(ctx) -> dict:
    holds = ctx.state.get("holds")
    return dict(holds) if isinstance(holds, dict) else {}


@function("order.Item", "reserve")
def reserve(ctx, order: str, qty: int = 1) -> bool:
    """mut: holds `qty` units for `order` when that many are free."""
    holds = _holds(ctx)
    held_by_others = sum(v for k, v in holds.items() if k != order)
    if ctx.state.get("stock", 0) - held_by_others < qty:
        return False
    holds[order] = qty
    ctx.state["holds"] = holds
    return True


@function("order.Item", "release")
def release(ctx, order: str) -> None:
    """mut: lets go of what `order` holds."""
    holds = _holds(ctx)
    holds.pop(order, None)
    ctx.state["holds"] = holds


@function("order.Order", "request_approval")
def request_approval(ctx) -> None:
    """mut: the order now waits for its approver."""
    ctx.state["status"] = "awaiting approval"


@function("order.Order", "charge")
def charge(ctx, amount: float) -> str:
    """Charges the card (a stand-in for a payment provider): `declined` cards fail."""
    card = ctx.state.get("card", "")
    if card == "declined":
        raise FunctionError(f"card declined for {amount:.2f}")
    return f"{amount:.2f} on card {card}"


@function("order.Order", "notify")
def notify(ctx, message: str) -> None:
    """Tells the customer (here: the container's log)."""
    print(f"order {ctx.state.get('number')}: {message}", flush=True)


if __name__ == "__main__":
    serve()
