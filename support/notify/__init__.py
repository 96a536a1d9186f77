"""Messages to applicants (and the sign-in links reviewers get by email, in English): the
outbox rows a workflow action writes (``outbox``), their
texts (``render``, ``segments``), the email and SMS backends (``backends``, ``smtp``,
``sms_http``) and delivering what is due (``delivery``).

May import: ``data``, ``platform``, ``config``. Never ``web``, ``workflow``, ``reads`` or
``clock``: the clock calls delivery, and workflow actions call the outbox.
"""
