"""Reviewer accounts: roles, passwords, lock-out and server-side sessions (``auth``,
``passwords``), the second factor (``second_factor``), links to choose a password
(``invitations``), what happened to accounts (``history``), and which applications a
reviewer may see (``scope``).

May import: ``rules``, ``data``, ``platform``, ``config``. No Starlette: the web layer
and the CLI both call these functions.
"""
