"""The data layer: the models (``models``), connections and migrations (``db``,
``migrations``), the SQLite client (``sqlite_client``) and the submission's rows built
by hand for the hot path (``rows``).

May import: ``platform``, ``config``. Nothing above it.
"""
