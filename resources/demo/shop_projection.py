"""The demo shop's read side, written with Rewind's projection API.

Open it with File > Open projection… (or ``--projection resources/demo/shop_projection.py``
on the headless commands). It shows every tool the API offers:

- ``shop``: one state per stream — customers (balance in EUR through an exchange-rate
  gateway, a sticky account number), orders (upcast from schema 1), payments (a processing
  fee whose rate changed on 2025-03-05: a rule by effective date) and stock levels;
- ``revenue``: one state for the whole log — captured money and fees per currency.

Edit a handler, press Ctrl+R in the window, and the states are replayed with the new code.
"""

from __future__ import annotations

from typing import Any

from replay_engine.api import Projection, gateway, sticky_id

shop = Projection("shop", initial=dict, description="customers, orders, payments and stock")


def eur(amount_cents: int, currency: str) -> int:
    """``amount_cents`` of ``currency`` in euro cents, at the rate the system used (recorded
    beside the log in shop.responses.json; a live call would change history)."""
    if currency == "EUR":
        return amount_cents
    return round(amount_cents * gateway("fx", f"{currency}/EUR"))


# --- customers ------------------------------------------------------------------------------


@shop.on("CustomerRegistered")
def registered(state: dict[str, Any], event: Any) -> dict[str, Any]:
    data = event.data
    return {
        "kind": "customer",
        "name": data["name"],
        "account": sticky_id("account", data["email"]),  # the same on every replay
        "currency": data["currency"],
        "balance_eur": 0,
        "credit_limit": None,
    }


@shop.on("BalanceDebited")
def debited(state: dict[str, Any], event: Any) -> None:
    state["balance_eur"] = state.get("balance_eur", 0) - eur(
        event.data["amount"], event.data["currency"]
    )


@shop.on("BalanceCredited")
def credited(state: dict[str, Any], event: Any) -> None:
    state["balance_eur"] = state.get("balance_eur", 0) + eur(
        event.data["amount"], event.data["currency"]
    )


@shop.on("CreditLimitSet")
def credit_limit(state: dict[str, Any], event: Any) -> None:
    state["credit_limit"] = {"amount": event.data["limit"], "currency": event.data["currency"]}


@shop.on("AddressChanged")
def moved(state: dict[str, Any], event: Any) -> None:
    state["city"] = event.data["address"]["city"]


# --- orders ---------------------------------------------------------------------------------


@shop.upcaster("OrderPlaced", from_version=1)
def order_total_as_money(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 2 keeps the amount and its currency together."""
    data["total"] = {"amount": data.pop("amount"), "currency": data.pop("currency")}
    return data


@shop.on("OrderPlaced")
def placed(state: dict[str, Any], event: Any) -> dict[str, Any]:
    data = event.data
    return {
        "kind": "order",
        "customer": data["customer_id"],
        "status": "placed",
        "items": sum(item["qty"] for item in data["items"]),
        "total": data["total"],
    }


@shop.on("ItemAdded")
def item_added(state: dict[str, Any], event: Any) -> None:
    state["items"] = state.get("items", 0) + event.data["qty"]
    state["total"] = {**state.get("total", {}), "amount": event.data["amount"]}


ORDER_STATUS = {
    "OrderConfirmed": "confirmed",
    "OrderPacked": "packed",
    "OrderShipped": "shipped",
    "OrderDelivered": "delivered",
    "OrderCancelled": "cancelled",
}


@shop.on(*ORDER_STATUS)
def order_status(state: dict[str, Any], event: Any) -> None:
    state["status"] = ORDER_STATUS[event.type]


@shop.on("InvoiceIssued")
def invoiced(state: dict[str, Any], event: Any) -> None:
    state["invoice"] = event.data["invoice_no"]


# --- payments: the fee changed on 2025-03-05 ------------------------------------------------


@shop.on("PaymentRequested")
def requested(state: dict[str, Any], event: Any) -> dict[str, Any]:
    data = event.data
    return {"kind": "payment", "order": data["order_id"], "status": "requested", "fee": 0}


def _charge(state: dict[str, Any], event: Any, rate: float) -> None:
    state["status"] = "charged"
    state["charges"] = state.get("charges", 0) + 1  # a watch "charges > 1" finds double charges
    state["fee"] = round(event.data["amount"] * rate)


@shop.on("PaymentCharged")
def charged(state: dict[str, Any], event: Any) -> None:
    _charge(state, event, 0.015)  # 1.5 %


@shop.on("PaymentCharged", effective="2025-03-05")
def charged_new_fee(state: dict[str, Any], event: Any) -> None:
    _charge(state, event, 0.018)  # 1.8 % from 5 March


@shop.on("PaymentFailed")
def failed(state: dict[str, Any], event: Any) -> None:
    state["status"] = "failed"


@shop.on("PaymentRefunded")
def refunded(state: dict[str, Any], event: Any) -> None:
    state["status"] = "refunded"
    state["fee"] = 0


# --- stock ----------------------------------------------------------------------------------


@shop.on("StockReserved", "StockReleased", "StockReplenished")
def stock(state: dict[str, Any], event: Any) -> None:
    state["kind"] = "sku"
    state["available"] = event.data["available"]


# --- the whole shop at once -----------------------------------------------------------------

revenue = Projection(
    "revenue",
    initial={"charged": {}, "refunded": {}, "fees_eur": 0, "orders": 0},
    key=None,
    description="money captured and fees, for the whole shop",
)


@revenue.on("OrderPlaced")
def count_order(state: dict[str, Any], event: Any) -> None:
    state["orders"] += 1


@revenue.on("PaymentCharged")
def charge(state: dict[str, Any], event: Any) -> None:
    currency = event.data["currency"]
    state["charged"][currency] = state["charged"].get(currency, 0) + event.data["amount"]
    state["fees_eur"] += round(eur(event.data["amount"], currency) * 0.015)


@revenue.on("PaymentCharged", effective="2025-03-05")
def charge_new_fee(state: dict[str, Any], event: Any) -> None:
    currency = event.data["currency"]
    state["charged"][currency] = state["charged"].get(currency, 0) + event.data["amount"]
    state["fees_eur"] += round(eur(event.data["amount"], currency) * 0.018)


@revenue.on("PaymentRefunded")
def refund(state: dict[str, Any], event: Any) -> None:
    currency = event.data["currency"]
    state["refunded"][currency] = state["refunded"].get(currency, 0) + event.data["amount"]
