"""The data layer: the models (``models``), connections and migrations (``db``,
``migrations``), the SQLite client (``sqlite_client``), the submission's rows built
by hand for the hot path (``rows``), what fits an integer column (``ids``) and which
applications share an account, phone, IMEI or receipt (``sharing``).

May import: ``platform``, ``config``. Nothing above it.
"""
