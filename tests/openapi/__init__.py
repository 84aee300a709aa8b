"""OpenAPI connectors, checked against Stoplight Prism serving the same documents."""
