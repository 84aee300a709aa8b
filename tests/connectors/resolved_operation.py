"""The fixed twin of ``unresolved_operation``: every annotation resolves.

``Decimal`` is imported for real, and the return annotation names a class
defined further down, a forward reference that resolves at the first call.
"""

from __future__ import annotations

from decimal import Decimal  # noqa: TC003  (fiscus_dsl reads annotations at run time)
from typing import Annotated

from pydantic import BaseModel

from fiscus_dsl import Connector, Header

from .conftest import BASE

shop = Connector("Shop", BASE)


@shop.operation("GET /orders")
def list_orders(
    request_id: Annotated[str, Header(alias="X-Request-Id")], limit: Decimal
) -> OrderPage:
    """List orders, tagging the request with an id."""
    raise NotImplementedError


class OrderPage(BaseModel):
    """One page of orders."""

    orders: list[str]
