"""The REST API's request and response bodies, one module per resource (``schemas/orders.py`` for
``/api/v1/orders``); ``common.py`` holds what every request body obeys. Converting them to and from the services'
protobuf messages is ``services/gateway/mappers``' job; the routes only check access, call and map."""
