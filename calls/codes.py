"""One-time codes: generated from a CSPRNG, stored as a keyed hash, compared in constant time.

The hash is an HMAC under a key derived from SECRET_KEY rather than a salted password
hash: codes must be found by value when a relative types one without the SMS link, and
no code short enough to type resists an offline search anyway. The key keeps a stolen
database from revealing live codes.

Why ten digits, and the limits below: docs/calls.md, "How hard a code is to guess".
"""

import hashlib
import hmac
import ipaddress
import secrets

from django.conf import settings

# A code typed without the link is tried against every live code of every establishment:
# ten digits make each such guess a 1 in 10^10 chance per live code, which the global
# limit below turns into less than 1 in 10,000 a day (docs/calls.md).
CODE_DIGITS = 10
MAX_FAILED_ATTEMPTS_PER_CALL = 5
# Per client address (an IPv6 client's whole /64), over a sliding window: enough for
# typos, far too few to guess.
MAX_FAILED_ATTEMPTS_PER_CLIENT = 10
CLIENT_WINDOW_MINUTES = 15
# A relative may ask for a new code (a new device, a lost message) this many times a call.
MAX_RELATIVE_REQUESTS_PER_CALL = 3
RELATIVE_REQUEST_INTERVAL_SECONDS = 60
# The browser's seat: a random secret in this cookie; only its hash is stored.
SEAT_COOKIE = "parloir_seat"
SEAT_COOKIE_MAX_AGE = 24 * 3600


def typed_failures_per_hour() -> int:
    """Wrong codes typed without a link, from all addresses together, in any hour."""
    return settings.CODE_TYPED_FAILURES_PER_HOUR


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


def new_seat() -> str:
    return secrets.token_urlsafe(32)


def seat_hash(seat: str | None) -> str:
    """The stored form of a seat cookie; empty for no cookie, which matches no seat."""
    return hashlib.sha256(seat.encode()).hexdigest() if seat else ""


def client_key(address: str) -> str:
    """What the per-address limit counts: the address, or an IPv6 client's /64.

    One IPv6 subscriber is handed a whole /64 (18 billion billion addresses): counted
    one by one, they would make the per-address limit meaningless.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return (address or "unknown")[:64]
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))
