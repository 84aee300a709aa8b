"""The sandbox: a small demo API on loopback, behind ``fiscus demo`` and the examples.

``sandbox()`` serves ``create_app()`` from a background thread and yields its
base URL; ``sandbox_connectors`` declares connectors for it and
``build_onboarding`` the demo's workflow. Demo only: in-memory state and
fixed, public bearer tokens.
"""

from fiscus_dsl._sandbox.app import CRM_TOKEN as CRM_TOKEN
from fiscus_dsl._sandbox.app import FLAKY_TOKEN as FLAKY_TOKEN
from fiscus_dsl._sandbox.app import MAIL_TOKEN as MAIL_TOKEN
from fiscus_dsl._sandbox.app import SandboxState as SandboxState
from fiscus_dsl._sandbox.app import create_app as create_app
from fiscus_dsl._sandbox.server import sandbox as sandbox

__all__ = [
    "CRM_TOKEN",
    "FLAKY_TOKEN",
    "MAIL_TOKEN",
    "SandboxState",
    "create_app",
    "sandbox",
]
