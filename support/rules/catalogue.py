"""The catalogue of phone models the desk knows, loaded once from ``rules/devices.json``.

The list lives in JSON so that support leads can add a model without touching code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

_BRAND = "xiaomi "


@dataclass(frozen=True)
class Device:
    """One phone model; the codename is what reviewers and flashing tools use."""

    name: str
    codename: str
    unlock_offered: bool


def _key(text: str) -> str:
    """Applicants type models with odd case and spacing; compare them in one shape."""
    return " ".join(text.split()).casefold()


def _parse(entry: object) -> Device:
    """Fail loudly at load time rather than serve a half-broken catalogue."""
    if not isinstance(entry, dict):
        raise ValueError(f"catalogue entry is not an object: {entry!r}")
    name, codename, offered = (
        entry.get("name"),
        entry.get("codename"),
        entry.get("unlock_offered"),
    )
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"catalogue entry without a name: {entry!r}")
    if not isinstance(codename, str) or not codename.strip():
        raise ValueError(f"catalogue entry without a codename: {entry!r}")
    if not isinstance(offered, bool):
        raise ValueError(f"catalogue entry without unlock_offered: {entry!r}")
    return Device(name=" ".join(name.split()), codename=codename.strip(), unlock_offered=offered)


@lru_cache(maxsize=1)
def devices() -> tuple[Device, ...]:
    """Sorted by name so every form lists the models in the same, predictable order."""
    raw = (files("support.rules") / "devices.json").read_text(encoding="utf-8")
    entries = json.loads(raw)
    if not isinstance(entries, list):
        raise ValueError("devices.json must hold a list")
    return tuple(sorted((_parse(e) for e in entries), key=lambda d: _key(d.name)))


@lru_cache(maxsize=1)
def _index() -> dict[str, Device]:
    """Names, "Xiaomi"-prefixed names and codenames all lead to the device.

    A leading "Xiaomi " may be added to any name ("Xiaomi Redmi Note 8"), but it is never
    dropped from a name that has it: "13T Pro" alone is too vague to trust.
    """
    index: dict[str, Device] = {}
    for device in devices():
        keys = {_key(device.name), _key(device.codename)}
        if not _key(device.name).startswith(_BRAND):
            keys.add(_BRAND + _key(device.name))
        for key in keys:
            if key in index and index[key] != device:
                raise ValueError(f"catalogue key {key!r} names two devices")
            index[key] = device
    return index


def find_device(text: str) -> Device | None:
    """None rather than an exception: the caller decides how to tell the applicant."""
    return _index().get(_key(text))
