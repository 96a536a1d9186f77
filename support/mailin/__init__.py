"""Mail coming in: the desk's LMTP listener (``lmtp``, ``support mail-in``) and the
mailbox reader (``imap``, ``support mail-fetch``). Both hand each message's bytes to a
``Taker`` (``taking``), which reads it (``support.inbox``) and acts on it through the
workflow (``support.workflow.mail``), recording it once with what became of it."""
