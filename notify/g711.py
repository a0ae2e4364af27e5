"""G.711 µ-law and A-law (ITU-T G.711), for the RTP payload of voice calls.

Written out rather than taken from ``audioop``: that module is deprecated and gone
from Python 3.13. Tables make both directions a lookup per sample.
"""

from __future__ import annotations

import array
import sys

_BIAS = 0x84


_ULAW_SEGMENT_ENDS = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)


def _ulaw_encode_sample(sample: int) -> int:
    # On the 14-bit value, as the reference implementation (and audioop) does.
    value = sample >> 2
    if value < 0:
        value, mask = -value, 0x7F
    else:
        mask = 0xFF
    value = min(value, 8159) + 0x21
    segment = next((i for i, end in enumerate(_ULAW_SEGMENT_ENDS) if value <= end), 8)
    if segment >= 8:
        return 0x7F ^ mask
    return ((segment << 4) | ((value >> (segment + 1)) & 0x0F)) ^ mask


def _ulaw_decode_byte(byte: int) -> int:
    byte = ~byte & 0xFF
    sign = byte & 0x80
    exponent = (byte >> 4) & 0x07
    mantissa = byte & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return -magnitude if sign else magnitude


def _alaw_encode_sample(sample: int) -> int:
    sign = 0x80 if sample >= 0 else 0
    magnitude = min(sample if sample >= 0 else -sample - 1, 32767) >> 3
    if magnitude < 32:
        value = magnitude >> 1
    else:
        exponent = magnitude.bit_length() - 5
        value = (exponent << 4) | ((magnitude >> exponent) & 0x0F)
    return (sign | value) ^ 0x55


def _alaw_decode_byte(byte: int) -> int:
    byte ^= 0x55
    sign = byte & 0x80
    exponent = (byte >> 4) & 0x07
    mantissa = byte & 0x0F
    if exponent == 0:
        magnitude = (mantissa << 4) + 8
    else:
        magnitude = ((mantissa << 4) + 0x108) << (exponent - 1)
    return magnitude if sign else -magnitude


_ULAW_ENCODE = bytes(_ulaw_encode_sample(s) for s in range(-32768, 32768))
_ALAW_ENCODE = bytes(_alaw_encode_sample(s) for s in range(-32768, 32768))
ULAW_DECODE = tuple(_ulaw_decode_byte(b) for b in range(256))
ALAW_DECODE = tuple(_alaw_decode_byte(b) for b in range(256))


def _samples(pcm: bytes) -> array.array:
    samples = array.array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def encode(pcm: bytes, codec: str) -> bytes:
    """16-bit little-endian PCM to G.711 ``codec`` ("PCMU" or "PCMA")."""
    table = _ULAW_ENCODE if codec == "PCMU" else _ALAW_ENCODE
    return bytes(table[s + 32768] for s in _samples(pcm))


def decode(data: bytes, codec: str) -> bytes:
    """G.711 back to 16-bit little-endian PCM."""
    table = ULAW_DECODE if codec == "PCMU" else ALAW_DECODE
    samples = array.array("h", (table[b] for b in data))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()
