"""The risk signals' codes and what each says to a reviewer. Computed and stored by
``workflow/risk.py``; named on pages and in exports through ``reads/wording.py``. Here,
below both, because those two may not import each other."""

from __future__ import annotations

FLAG_WORDS: dict[str, str] = {
    "same_imei": "Same IMEI, other account",
    "same_receipt": "Same receipt file",
    "recent_unlock": "Unlock approved in the last 30 days",
    "shared_phone": "Phone shared by many accounts",
    "unlock_not_offered": "Model not offered unlocking",
    "imei_differs": "A document's IMEI differs",
}
