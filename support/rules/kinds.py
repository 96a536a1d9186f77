"""The application kinds as data.

A kind says which facts and documents it needs, how its reason is labelled, which rules of
its own apply (unlock needs a developer build and an English reason) and where its
reference starts. Adding a kind is one more entry here plus its templates.
"""

from __future__ import annotations

from dataclasses import dataclass

from support.platform.i18n import N_


@dataclass(frozen=True)
class DocumentSlot:
    name: str  # the form field, and Document.purpose
    label: str
    hint: str
    required: bool


@dataclass(frozen=True)
class Kind:
    code: str
    prefix: str
    title: str
    summary: str
    reason_label: str
    reason_hint: str
    needs_imei: bool
    unlock_rules: bool  # developer firmware, English reason, model must offer unlocking
    documents: tuple[DocumentSlot, ...]
    public: bool = True  # offered on the start page; appeals start from a status page
    priority: int = 0  # higher is served first
    sla_kind: str = ""  # whose promise applies; defaults to the kind itself
    # An English sample reason, shown untranslated where the reason must be in English.
    reason_example: str = ""

    @property
    def sla(self) -> str:
        return self.sla_kind or self.code

    @property
    def fields(self) -> tuple[str, ...]:
        base = ("account_id", "country", "phone", "email", "model", "firmware")
        return (*base, "imei", "reason") if self.needs_imei else (*base, "reason")


RECEIPT = DocumentSlot(
    "receipt",
    N_("Purchase receipt"),
    N_("A photo or PDF of the receipt for this phone. JPEG, PNG or PDF, at most 10 MB."),
    required=True,
)

KINDS: dict[str, Kind] = {
    "unlock": Kind(
        code="unlock",
        prefix="UL",
        title=N_("Bootloader unlock permission"),
        summary=N_("Ask for the right to unlock your phone's bootloader."),
        reason_label=N_("Why do you want to unlock the bootloader?"),
        reason_hint=N_(
            "Write the reason in English, 30 to 2000 characters, even if you fill the rest "
            "of the form in another language: the engineers who decide read English."
        ),
        reason_example=(
            "I develop a custom kernel for this model and need to flash test builds."
        ),
        needs_imei=False,
        unlock_rules=True,
        documents=(RECEIPT,),
    ),
    "recovery": Kind(
        code="recovery",
        prefix="RC",
        title=N_("Account recovery"),
        summary=N_("Get back into an account when you have lost its password and every "
        "linked phone number and email."),
        reason_label=N_("What happened?"),
        reason_hint=N_("Tell us how you lost access, in any language, 30 to 2000 characters."),
        needs_imei=True,
        unlock_rules=False,
        documents=(
            RECEIPT,
            DocumentSlot(
                "box_photo",
                N_("Photo of the phone's box (optional)"),
                N_("The label with the IMEI should be readable. JPEG, PNG or PDF, at most 10 MB."),
                required=False,
            ),
            DocumentSlot(
                "sim_proof",
                N_("Proof that the SIM card is yours (optional)"),
                N_("For example the SIM contract or a bill from your operator. At most 10 MB."),
                required=False,
            ),
        ),
    ),
    "appeal": Kind(
        code="appeal",
        prefix="AP",
        title=N_("Appeal against a refused unlock"),
        summary=N_("Ask us to look again at a refused bootloader-unlock application."),
        reason_label=N_("Why do you want to unlock the bootloader?"),
        reason_hint=N_(
            "Write the reason in English, 30 to 2000 characters, and say what has changed "
            "since the refusal if anything has."
        ),
        reason_example=(
            "I now run the developer build and maintain a LineageOS port for this model."
        ),
        needs_imei=False,
        unlock_rules=True,
        documents=(),
        public=False,
        priority=10,
        sla_kind="unlock",
    ),
}

# Why a refusal was made: recorded with every rejection, for the applicant and for reports.
REJECTION_REASONS: dict[str, str] = {
    "stable_firmware": N_("The phone runs a stable build; unlocking needs a developer build"),
    "reason_insufficient": N_("The reason does not explain why unlocking is needed"),
    "proof_unreadable": N_("The proof documents cannot be read"),
    "proof_mismatch": N_("The proof does not match the account or the phone"),
    "duplicate": N_("Another application covers the same request"),
    "device_reported": N_("The device is reported lost or stolen"),
    "account_too_new": N_("The account is too new"),
    "other": N_("Another reason, explained in the message"),
}

# What a reviewer can ask an applicant to add.
INFO_ITEMS: dict[str, str] = {
    "receipt": N_("A readable purchase receipt"),
    "box_photo": N_("A photo of the phone's box with the IMEI label"),
    "sim_proof": N_("Proof that the SIM card is yours"),
    "imei": N_("The phone's IMEI"),
    "firmware": N_("The exact firmware version"),
    "reason": N_("A clearer reason"),
    "other": N_("Something else, explained in the message"),
}


def kind_for_reference(reference: str) -> Kind | None:
    prefix = reference.split("-", 1)[0]
    return next((kind for kind in KINDS.values() if kind.prefix == prefix), None)
