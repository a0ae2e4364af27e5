"""SMS text: GSM 03.38 7-bit versus UCS-2, segment counts, and splitting for SMPP.

An SMS carries 140 octets: 160 characters of the GSM 7-bit alphabet, or 70 UTF-16
code units once a single character falls outside it. Above that the message is
split into parts with a 6-octet concatenation header, leaving 153 (GSM) or 67
(UCS-2) per part, and each part is billed. So the texts we send are kept in GSM
where the meaning allows: typographic punctuation is replaced by its plain twin
before sending (a French "–" or "’" alone would otherwise triple the cost of a
booking notice).
"""

from __future__ import annotations

import math
import secrets
import unicodedata
from dataclasses import dataclass

# The 128 characters of the default alphabet, at their code points; 0x1B is the escape.
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Characters reached through the escape: two septets each.
GSM7_EXTENSION = {
    "\x0c": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
_BASIC_INDEX = {char: index for index, char in enumerate(GSM7_BASIC) if index != 0x1B}
_BASIC_REVERSE = dict(enumerate(GSM7_BASIC))
_EXTENSION_REVERSE = {code: char for char, code in GSM7_EXTENSION.items()}

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67

# Plain equivalents of typographic characters that translations and names bring in.
_PLAIN = {
    "\u2019": "'",
    "\u2018": "'",
    "\u201c": '"',
    "\u201d": '"',
    "«": '"',
    "»": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2026": "...",
    "\u00a0": " ",
    "\u202f": " ",
    "\u2009": " ",
}

GSM7 = "gsm7"
UCS2 = "ucs2"


@dataclass(frozen=True)
class Shape:
    encoding: str
    units: int  # septets (GSM) or UTF-16 code units (UCS-2)
    segments: int


def is_gsm7(text: str) -> bool:
    return all(char in _BASIC_INDEX or char in GSM7_EXTENSION for char in text)


def septets(text: str) -> int:
    return sum(2 if char in GSM7_EXTENSION else 1 for char in text)


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-be")) // 2


def shape(text: str) -> Shape:
    """How ``text`` travels as an SMS: its encoding and how many parts it takes."""
    if is_gsm7(text):
        units = septets(text)
        single, part = GSM7_SINGLE, GSM7_PART
        encoding = GSM7
    else:
        units = utf16_units(text)
        single, part = UCS2_SINGLE, UCS2_PART
        encoding = UCS2
    segments = 1 if units <= single else math.ceil(units / part)
    return Shape(encoding, units, segments)


# Latin letters that Unicode does not decompose into a base letter and an accent.
_NO_DECOMPOSITION = {"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "ı": "i", "Œ": "OE", "œ": "oe",
                     "Þ": "Th", "þ": "th", "Ð": "D", "ð": "d", "ŀ": "l", "Ŀ": "L"}  # fmt: skip


def _strip_accents(char: str) -> str:
    if char in _NO_DECOMPOSITION:
        return _NO_DECOMPOSITION[char]
    decomposed = unicodedata.normalize("NFKD", char)
    base = "".join(c for c in decomposed if not unicodedata.combining(c))
    return base if base and is_gsm7(base) else char


def prepare(text: str) -> str:
    """The text as it goes out: typography made plain; and if a few letters alone keep it
    out of GSM (a name with "ë" or "ł"), those letters without their accents, which turns
    a 70-character UCS-2 message back into a 160-character GSM one. A text in another
    script stays as it is, in UCS-2."""
    plain = "".join(_PLAIN.get(char, char) for char in text)
    if is_gsm7(plain):
        return plain
    stripped = "".join(
        char if char in _BASIC_INDEX or char in GSM7_EXTENSION else _strip_accents(char)
        for char in plain
    )
    return stripped if is_gsm7(stripped) else plain


def encode_gsm7(text: str) -> bytes:
    """Unpacked GSM 7-bit (one septet per octet), as SMPP carries data_coding 0."""
    out = bytearray()
    for char in text:
        if char in _BASIC_INDEX:
            out.append(_BASIC_INDEX[char])
        elif char in GSM7_EXTENSION:
            out += bytes((0x1B, GSM7_EXTENSION[char]))
        else:
            raise UnicodeEncodeError("gsm7", text, 0, len(text), f"{char!r} is not GSM 7-bit")
    return bytes(out)


def decode_gsm7(data: bytes) -> str:
    out = []
    escape = False
    for octet in data:
        if escape:
            out.append(_EXTENSION_REVERSE.get(octet, " "))
            escape = False
        elif octet == 0x1B:
            escape = True
        else:
            out.append(_BASIC_REVERSE[octet & 0x7F])
    return "".join(out)


@dataclass(frozen=True)
class Encoded:
    data_coding: int  # SMPP: 0 = SMSC default alphabet (GSM), 8 = UCS-2
    parts: list[bytes]  # each with its concatenation header when there are several
    udhi: bool


def _chunks(units: list[bytes], limit: int) -> list[bytes]:
    """Join encoded characters into parts of at most ``limit`` octets, never cutting one
    (a GSM escape pair or a UTF-16 surrogate pair stays whole)."""
    parts, current = [], b""
    for unit in units:
        if len(current) + len(unit) > limit:
            parts.append(current)
            current = b""
        current += unit
    parts.append(current)
    return parts


def encode_parts(text: str) -> Encoded:
    """``text`` as SMPP short_message payloads: one, or several with a UDH each."""
    if is_gsm7(text):
        units = [encode_gsm7(char) for char in text]
        data_coding, single, part = 0, GSM7_SINGLE, GSM7_PART
    else:
        units = []
        for char in text:
            units.append(char.encode("utf-16-be"))
        data_coding, single, part = 8, UCS2_SINGLE * 2, UCS2_PART * 2
    payload_size = sum(len(unit) for unit in units)
    if payload_size <= single:
        return Encoded(data_coding, [b"".join(units)], udhi=False)
    chunks = _chunks(units, part)
    if len(chunks) > 255:
        raise ValueError("Text too long for a concatenated SMS")
    reference = secrets.randbelow(256)
    parts = [
        bytes((0x05, 0x00, 0x03, reference, len(chunks), index)) + chunk
        for index, chunk in enumerate(chunks, start=1)
    ]
    return Encoded(data_coding, parts, udhi=True)
