"""Protobuf ↔ REST, one module per resource: what a route sends a service is built here from its request body,
and what a service answers is turned here into the response body. Nothing here calls a service or checks access."""
