"""An uploaded document from its first byte to the safe file a reviewer opens.

``storage`` stages an upload under its limits, sniffs its type from content, checks it
(``images``, ``pdfs``, ``polyglots``; ``refusals`` says why one is refused, in the
applicant's words) and keeps it: ``spool`` holds small uploads until the worker writes
their file; ``filing`` makes each document safe (re-encoded, checked again) before any
reviewer sees it; ``rendering`` draws thumbnails and a PDF's pages for the viewer, PDFium
running in ``pdf_pages``, a child program under memory, CPU and time limits; ``sweep``
deletes the files no row will claim (a killed process's).

May import: ``rules``, ``data``, ``platform``, ``config``. Never ``workflow``, ``notify``,
``web`` or ``clock``: the clock passes its pacing in.
"""
