"""A module whose operation has one annotation that does not resolve at run time.

The regression fixture of ``test_operations``: ``Decimal`` is imported only
for type checkers, so with ``from __future__ import annotations`` the
annotation of ``limit`` names nothing when fiscus_dsl reads it. That once
made the whole signature untyped, and ``request_id``, marked
``Header(alias="X-Request-Id")``, was sent as a query parameter instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fiscus_dsl import Connector, Header

from .conftest import BASE

if TYPE_CHECKING:
    from decimal import Decimal

shop = Connector("Shop", BASE)


@shop.operation("GET /orders")
def list_orders(
    request_id: Annotated[str, Header(alias="X-Request-Id")], limit: Decimal
) -> dict[str, object]:
    """List orders, tagging the request with an id."""
    raise NotImplementedError
