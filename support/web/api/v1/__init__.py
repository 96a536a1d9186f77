"""Version 1 of the API: each module declares its operations (``registry.endpoint``)
when imported."""

from support.web.api.v1 import applications, keys, permissions  # noqa: F401
