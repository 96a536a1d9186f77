"""The support desk: account-recovery and bootloader-unlock applications, and their review.

Each package is one subsystem; imports run downward only (``docs/architecture.md`` draws
it, the ``import-linter`` contracts in ``pyproject.toml`` hold it):

- ``app``, ``cli``: assembly: the ASGI application and the commands;
- ``web``: thin endpoints; ``clock``: the worker's loop and the periodic jobs;
- ``workflow``: every change of state; ``reads``: the reviewer's read side;
- ``documents``: an upload from first byte to its safe file; ``notify``: the outbox and
  its delivery; ``accounts``: reviewers, sign-in, what each may see;
- ``rules``: pure domain data and checks (kinds, fields, countries, devices);
- ``data``: models, connections, migrations, hand-built hot-path rows;
- ``platform``: logs, metrics, tokens, languages, limits, memory; ``config``: settings.
"""
