"""What connectors made from OpenAPI documents share: the base of their models.

``OpenAPIModel`` is the base class of every model ``Connector.from_openapi``
makes from a document's schemas, and of those ``fiscus connectors
generate`` writes: extra keys are kept, names that are not Python names are
aliases, and an optional field the caller did not set is left out of the
JSON sent (not sent as ``null``, which a schema that is not nullable
refuses). See docs/openapi.md.
"""

from __future__ import annotations

from fiscus_dsl._connectors.openapi_types import OpenModel as OpenAPIModel

__all__ = ["OpenAPIModel"]
