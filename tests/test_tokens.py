"""References are what applicants read out and type back: their shape, and that every
character of every position is drawn (a bias would make them guessable)."""

from __future__ import annotations

import re
from collections import Counter

from support.platform import tokens
from support.platform.tokens import REFERENCE_ALPHABET


def test_references_have_the_shape_applicants_are_shown() -> None:
    for _ in range(200):
        reference = tokens.new_reference("UL")
        assert re.fullmatch(rf"UL-[{REFERENCE_ALPHABET}]{{4}}-[{REFERENCE_ALPHABET}]{{4}}",
                            reference), reference
        assert tokens.parse_reference(reference) == reference


def test_every_position_uses_the_whole_alphabet_evenly() -> None:
    draws = [tokens.new_reference("UL").replace("-", "")[2:] for _ in range(6000)]
    assert len(set(draws)) == len(draws)
    expected = len(draws) / len(REFERENCE_ALPHABET)  # about 207 a character
    for position in range(8):
        counts = Counter(draw[position] for draw in draws)
        assert set(counts) == set(REFERENCE_ALPHABET), position
        # Far outside chance (a spread of about ±14 here) for any position stuck or skewed.
        assert min(counts.values()) > expected * 0.6, (position, counts)
        assert max(counts.values()) < expected * 1.4, (position, counts)


def test_a_mangled_form_token_is_refused_not_an_error() -> None:
    """A form token with non-ASCII where its signature goes (a fuzzed or mistyped form) is
    just not ours: None, never a TypeError from the comparison (it was a 500)."""
    good = tokens.new_submission_token("k" * 40)
    nonce, issued, mac = good.split(".")
    assert tokens.check_submission_token("k" * 40, good, 3600) == nonce
    for bad in (f"{nonce}.{issued}.{mac[:-1]}é", f"{nonce}.{issued}.число", f"{nonce}.{issued}."):
        assert tokens.check_submission_token("k" * 40, bad, 3600) is None
