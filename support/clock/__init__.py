"""Periodic work: the worker's loop (``worker``) that delivers messages, runs the clock's
jobs once a minute (``jobs``: expiries, idle claims, erasures, the spool's sweep, leftover
files hourly, the daily purge, the reports' rollups) and files documents, and when to give
way to the front door in a burst (``pacing``).

May import: ``workflow``, ``reads``, ``documents``, ``notify``, and what they may. Never
``web``, ``app`` or ``cli``.
"""
