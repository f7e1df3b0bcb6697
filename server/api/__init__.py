"""The REST transport: one module per resource, each handler declared with ``@operation`` (``operation.py`` says
how), every module's routes listed in ``routes.py``, the OpenAPI document derived from them (``openapi.py``)."""
