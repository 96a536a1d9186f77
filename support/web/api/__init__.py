"""The maker's API (``/api/v1``): JSON for the unlock service and the apps, a sub-app of
its own so every answer, refusals and failures included, is JSON in one shape
(``errors``). Each endpoint is declared once (``registry.endpoint``) with its scope and
its request and response models; the routes and the OpenAPI document (``openapi``) both
come from those declarations, so the contract is the code.

Endpoints stay thin like the rest of ``web``: check the key (``auth``), parse, call one
workflow action or one read, answer.
"""
