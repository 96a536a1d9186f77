"""The reviewer's read side: the queue (``queue``: tabs, filters, search, keyset pages), a
reviewer's own work (``my_work``), other applications sharing facts (``related``), codes as
words (``wording``), the audit trail (``audit``), the queue's CSV (``exports``), the
reports (``reports``, with ``charts``); and the applicant's status page beyond the row
itself (``standing``: their history, the appeal linked either way, the promised date).
Reading changes nothing, except the reports'
rollups, which only the clock rewrites.

May import: ``accounts`` (what a reviewer may see), ``rules``, ``data``, ``platform``,
``config``. Never ``workflow``, ``web`` or ``clock``.
"""
