"""The application kinds as data.

A kind says which facts and documents it needs, how its reason is labelled, which rules of
its own apply (unlock needs a developer build and an English reason) and where its
reference starts. Adding a kind is one more entry here plus its templates.
"""

from __future__ import annotations

from dataclasses import dataclass


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

    @property
    def fields(self) -> tuple[str, ...]:
        base = ("account_id", "country", "phone", "email", "model", "firmware")
        return (*base, "imei", "reason") if self.needs_imei else (*base, "reason")


RECEIPT = DocumentSlot(
    "receipt",
    "Purchase receipt",
    "A photo or PDF of the receipt for this phone. JPEG, PNG or PDF, at most 10 MB.",
    required=True,
)

KINDS: dict[str, Kind] = {
    "unlock": Kind(
        code="unlock",
        prefix="UL",
        title="Bootloader unlock permission",
        summary="Ask for the right to unlock your phone's bootloader.",
        reason_label="Why do you want to unlock the bootloader?",
        reason_hint=(
            "Write the reason in English, 30 to 2000 characters. For example: "
            "I develop a custom kernel for this model and need to flash test builds."
        ),
        needs_imei=False,
        unlock_rules=True,
        documents=(RECEIPT,),
    ),
    "recovery": Kind(
        code="recovery",
        prefix="RC",
        title="Account recovery",
        summary="Get back into an account when you have lost its password and every "
        "linked phone number and email.",
        reason_label="What happened?",
        reason_hint="Tell us how you lost access, in any language, 30 to 2000 characters.",
        needs_imei=True,
        unlock_rules=False,
        documents=(
            RECEIPT,
            DocumentSlot(
                "box_photo",
                "Photo of the phone's box (optional)",
                "The label with the IMEI should be readable. JPEG, PNG or PDF, at most 10 MB.",
                required=False,
            ),
            DocumentSlot(
                "sim_proof",
                "Proof that the SIM card is yours (optional)",
                "For example the SIM contract or a bill from your operator. At most 10 MB.",
                required=False,
            ),
        ),
    ),
}


def kind_for_reference(reference: str) -> Kind | None:
    prefix = reference.split("-", 1)[0]
    return next((kind for kind in KINDS.values() if kind.prefix == prefix), None)
