"""Fan out: ``task.map`` over a list known only at run time, ``partial``, sub-workflows.

A billing run lists a segment's customers (the list is a future while the
workflow is traced), fetches every balance in parallel with
``fetch_balance.partial(currency=...).map(customer_id=customers)``, and
runs the ``remind`` sub-workflow once per customer. Pure Python::

    python examples/fanout.py
"""

from __future__ import annotations

import time
from typing import Final

from pydantic import BaseModel

from fiscus_dsl import RunResult, task, when, workflow

LATENCY: Final = 0.02
"""Seconds each fake API call takes."""

CUSTOMERS: Final[dict[str, list[str]]] = {
    "smb": ["acme", "globex", "initech"],
    "enterprise": [],
}
BALANCES: Final[dict[str, int]] = {"acme": 120, "globex": 0, "initech": 45}

SENT: list[str] = []
"""Every reminder sent, as ``customer: amount``."""


class Balance(BaseModel):
    """What a customer owes, in cents."""

    customer_id: str
    amount: int
    currency: str


@task
def list_customers(segment: str) -> list[str]:
    """Return the ids of a segment's customers."""
    time.sleep(LATENCY)
    return CUSTOMERS[segment]


@task
def fetch_balance(customer_id: str, currency: str) -> Balance:
    """Fetch one customer's open balance."""
    time.sleep(LATENCY)
    return Balance(
        customer_id=customer_id, amount=BALANCES[customer_id], currency=currency
    )


@task
def total(balances: list[Balance]) -> int:
    """Add up balances."""
    return sum(balance.amount for balance in balances)


@task
def send_reminder(customer_id: str, amount: int) -> str:
    """Send a payment reminder; return its receipt."""
    time.sleep(LATENCY)
    receipt = f"{customer_id}: {amount}"
    SENT.append(receipt)
    return receipt


@workflow
def remind(customer_id: str, currency: str) -> str | None:
    """Remind one customer, if they owe anything (a sub-workflow)."""
    balance = fetch_balance(customer_id, currency)
    with when(balance.amount > 0):
        receipt = send_reminder(customer_id, balance.amount)
    return receipt  # noqa: RET504  (a guarded future: None where the guard was false)


@workflow
def billing_run(segment: str) -> dict[str, object]:
    """Total a segment's balances and remind every customer who owes money."""
    customers = list_customers(segment)
    balances = fetch_balance.partial(currency="EUR").map(customer_id=customers)
    owed = total(balances)
    receipts = remind.partial(currency="EUR").map(customer_id=customers)
    return {"owed": owed, "receipts": receipts}


def report(result: RunResult[dict[str, object]]) -> None:
    """Print every task id with its status, then the output."""
    for task_id, outcome in result.tasks.items():
        print(f"  {task_id:<34} {outcome.status}")
    print(f"  run {result.status}; output: {result.output}")


def main() -> tuple[RunResult[dict[str, object]], RunResult[dict[str, object]]]:
    """Run the billing for a segment with customers and for an empty one."""
    SENT.clear()
    print("The graph (Mermaid):")
    print(billing_run.graph().to_mermaid().rstrip())

    print("\nSegment 'smb' (three customers, one owes nothing):")
    smb = billing_run.run(segment="smb")
    report(smb)
    print(f"  reminders sent: {SENT}")

    print("\nSegment 'enterprise' (no customers: every map gives []):")
    empty = billing_run.run(segment="enterprise")
    report(empty)
    return smb, empty


if __name__ == "__main__":
    main()
