"""The data layer: the models (``models``), connections and migrations (``db``,
``migrations``), the SQLite client (``sqlite_client``), the submission's rows built
by hand for the hot path (``rows``) and what fits an integer column (``ids``).

May import: ``platform``, ``config``. Nothing above it.
"""
