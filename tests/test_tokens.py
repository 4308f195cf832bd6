"""Tests for pixelagg.tokens: which role a presented token has, and the Bearer header."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from pixelagg.tokens import bearer_token, role_for

ADMIN = "admin-token-0123456789abcdef"
READ_1 = "read-token-one-0123456789ab"
READ_2 = "read-token-two-0123456789ab"


@pytest.mark.parametrize(
    ("given", "found"),
    [
        (ADMIN, ("admin", ADMIN)),
        (READ_1, ("read", READ_1)),
        (READ_2, ("read", READ_2)),
        ("not-a-token-0123456789abcdef", None),
        ("", None),
        (ADMIN[:-1], None),
        (ADMIN + "x", None),
        ("\udcff" + ADMIN[1:], None),
    ],
    ids=["admin", "read", "second-read", "unknown", "empty", "prefix", "longer", "undecodable"],
)
def test_role_for_names_the_role_and_the_token(given, found):
    """A token gives its role and itself; anything else, even a near miss, gives None."""
    assert role_for(given, ADMIN, [READ_1, READ_2]) == found


def test_admin_wins_when_a_token_is_listed_twice():
    """A token that is also listed as a read token is the admin token."""
    assert role_for(ADMIN, ADMIN, [ADMIN]) == ("admin", ADMIN)


def _mac(token: str, role: str) -> str:
    return hmac.new(token.encode(), f"1700000000|{role}".encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("given", "found"),
    [
        (_mac(ADMIN, "admin"), ("admin", ADMIN)),
        (_mac(READ_2, "read"), ("read", READ_2)),
        (_mac(READ_2, "admin"), None),
        (READ_2, None),
    ],
    ids=["admin-mac", "read-mac", "promoted-mac", "raw-token"],
)
def test_role_for_compares_with_what_sign_makes_of_each_token(given, found):
    """With sign, the secret is checked against sign(token, role): a MAC, never the token itself."""
    assert role_for(given, ADMIN, [READ_1, READ_2], _mac) == found


def test_every_token_is_compared_even_after_a_match():
    """Every token is compared whichever matches, so the time taken says nothing about which."""
    signed: list[tuple[str, str]] = []

    def sign(token: str, role: str) -> str:
        signed.append((token, role))
        return _mac(token, role)

    assert role_for(_mac(ADMIN, "admin"), ADMIN, [READ_1, READ_2], sign) == ("admin", ADMIN)
    assert signed == [(ADMIN, "admin"), (READ_1, "read"), (READ_2, "read")]


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (f"Bearer {ADMIN}", ADMIN),
        (f"bearer   {ADMIN}  ", ADMIN),
        (f"BEARER {ADMIN}", ADMIN),
        ("Bearer ", None),
        ("Bearer", None),
        (f"Basic {ADMIN}", None),
        (f"Token {ADMIN}", None),
        ("", None),
    ],
    ids=["plain", "spaces", "upper-scheme", "no-token", "scheme-only", "basic", "other-scheme", "none"],
)
def test_bearer_token(header, token):
    """The token of a Bearer header, whatever the scheme's case and the spaces; None otherwise."""
    assert bearer_token(header) == token
