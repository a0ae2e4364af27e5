"""One-time codes: generated from a CSPRNG, stored as a keyed hash, compared in constant time.

The hash is an HMAC under a key derived from SECRET_KEY rather than a salted password
hash: codes must be found by value when a relative types one without the SMS link, and
six digits are too few to resist an offline search anyway. The key keeps a stolen
database from revealing live codes.
"""

import hashlib
import hmac
import secrets

from django.conf import settings

CODE_DIGITS = 6
MAX_FAILED_ATTEMPTS_PER_CALL = 5
# Per client address, over a sliding window: enough for typos, far too few to guess.
MAX_FAILED_ATTEMPTS_PER_CLIENT = 10
CLIENT_WINDOW_MINUTES = 15


def _key() -> bytes:
    return hmac.new(settings.SECRET_KEY.encode(), b"parloir.call-code.v1", hashlib.sha256).digest()


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def hash_code(code: str) -> str:
    return hmac.new(_key(), code.encode(), hashlib.sha256).hexdigest()


def matches(code: str, code_hash: str) -> bool:
    return hmac.compare_digest(hash_code(code), code_hash)


def normalize(raw: str) -> str | None:
    """Digits only (people type spaces or dashes); None when it cannot be a code."""
    digits = "".join(ch for ch in (raw or "") if not ch.isspace() and ch != "-")
    if len(digits) != CODE_DIGITS or not digits.isascii() or not digits.isdigit():
        return None
    return digits


def new_token() -> str:
    return secrets.token_urlsafe(24)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
