"""Canned responses' default texts: the starting text of each decision, editable before
sending. ``workflow.responses`` seeds them the first time anyone asks, so a new desk is
usable at once; admins change them at /review/admin/responses.
"""

from __future__ import annotations

DEFAULTS: list[dict[str, str | None]] = [
    {"kind": "unlock", "action": "approve", "reason_code": None,
     "title": "Unlock permitted",
     "body": "Your request is approved. Sign in to the unlock tool with this account on the "
             "phone within 14 days; the permission is for this account and this model only."},
    {"kind": "unlock", "action": "reject", "reason_code": "stable_firmware",
     "title": "Stable firmware",
     "body": "The phone runs a stable build. Install a weekly (developer) build, whose "
             "version looks like a date such as 21.3.17, then appeal or apply again."},
    {"kind": "unlock", "action": "reject", "reason_code": "reason_insufficient",
     "title": "Reason not sufficient",
     "body": "Your reason does not say why you need to unlock the bootloader. Explain in "
             "English what you will do with the unlocked phone, then appeal."},
    {"kind": "unlock", "action": "reject", "reason_code": "account_too_new",
     "title": "Account too new",
     "body": "Accounts must be at least 30 days old to unlock a phone. Please apply again "
             "once your account is 30 days old."},
    {"kind": "unlock", "action": "request_info", "reason_code": None,
     "title": "Receipt unreadable",
     "body": "We cannot read the purchase receipt. Please send a sharp photo of the whole "
             "receipt, with the date, the shop and the model visible."},
    {"kind": "recovery", "action": "approve", "reason_code": None,
     "title": "Account recovered",
     "body": "We have confirmed that the account is yours. Open the sign-in page, choose "
             "\"Forgot password\" and enter the email you gave in this application: the "
             "reset link will arrive there within the next hour."},
    {"kind": "recovery", "action": "reject", "reason_code": "proof_mismatch",
     "title": "Proof does not match",
     "body": "The documents you sent do not match the phone linked to this account, so we "
             "cannot confirm the account is yours."},
    {"kind": "recovery", "action": "reject", "reason_code": "proof_unreadable",
     "title": "Proof unreadable",
     "body": "We cannot read the documents you sent. Please apply again with sharp photos."},
    {"kind": "recovery", "action": "request_info", "reason_code": None,
     "title": "Box photo needed",
     "body": "Please send a photo of the phone's box showing the label with the IMEI."},
    {"kind": "appeal", "action": "approve", "reason_code": None,
     "title": "Appeal upheld: unlock permitted",
     "body": "We looked again and your request is approved. Sign in to the unlock tool with "
             "this account on the phone within 14 days."},
    {"kind": "appeal", "action": "reject", "reason_code": "reason_insufficient",
     "title": "Appeal refused",
     "body": "We looked again and cannot permit unlocking this phone. The reason is "
             "explained below."},
]
