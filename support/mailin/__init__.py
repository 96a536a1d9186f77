"""Mail coming in: the desk's LMTP listener (``lmtp``, ``support mail-in``) and the
mailbox reader (``imap``, ``support mail-fetch``). Both hand each message's bytes to a
``Taker`` (``taking``), which reads it (``support.notify.inbox``) and acts on it through the
workflow (``support.workflow.mail``), recording it once with what became of it.

At the layer of ``web`` and ``clock``: it may import ``workflow`` and everything below,
never ``web``, ``clock``, ``app`` or ``cli``."""
