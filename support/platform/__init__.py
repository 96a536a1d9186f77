"""What every subsystem stands on: logs (``logs``), metrics (``metrics``,
``metrics_dir``), tokens and codes (``tokens``), languages and their catalogues
(``i18n``, ``translations/``), dates and masks (``formatting``), abuse limits
(``ratelimit``), memory settings (``memory``).

May import: ``config``. Nothing else of the desk's.
"""
