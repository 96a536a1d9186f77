"""Thin endpoints: parse and check input, call one workflow action or one read, render or
redirect. Applicant pages (``applicant``, ``status``), the reviewer's desk (``queue``, ``review``
with ``composer`` for its decision forms, ``documents``, ``presence``, ``admin``,
``admin_responses``, ``audit``, ``reports``, ``exports``, ``deliveries``, ``auth``) and what every
request passes through (``security``, ``language``, ``request_id``, ``metrics``,
``errors``, ``forms``, ``templating``).

May import everything below it: ``workflow``, ``reads``, ``documents``, ``notify`` (its
texts), ``accounts``, ``rules``, ``data``, ``platform``, ``config``. Never ``clock``,
``app`` or ``cli``.
"""
