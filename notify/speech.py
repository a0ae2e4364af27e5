"""What a voice call says, in the contact's language, and the audio for it.

Text to speech is espeak-ng (Debian; about a hundred languages, robotic but every digit
clear on a phone line), resampled by sox to the 8 kHz mono that G.711 carries.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import subprocess
from dataclasses import dataclass

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

SAMPLE_RATE = 8000
# Said before anything else: people say "allô" and miss the first words otherwise.
LEAD_IN_SECONDS = 0.8
# Slower than espeak's 175 words a minute, so that digits can be written down.
WORDS_PER_MINUTE = 135


class SpeechError(RuntimeError):
    """Synthesis failed (a missing package, an unknown voice)."""


@dataclass(frozen=True)
class Script:
    text: str
    language: str  # the language the words are in, hence the voice to read them


def script(*, text: str, spoken_digits: str, language: str) -> Script:
    """The words of the call: the code digit by digit, repeated; or the message text.

    Where the contact's language has no translation of the call's words yet, the call
    is in French, read by the French voice: never French words in a foreign voice.
    """
    repeat = max(1, settings.VOICE_REPEAT)
    # gettext_noop lets makemessages see the sentence, which is translated below.
    intro = gettext_noop("Bonjour. Votre code parloir est : %(digits)s.")
    with translation.override(language):
        if spoken_digits and _(intro) == intro and not language.startswith("fr"):
            language = "fr"
    with translation.override(language):
        if spoken_digits:
            digits = ", ".join(spoken_digits)
            parts = [_(intro) % {"digits": digits}]
            parts += [_("Je répète : %(digits)s.") % {"digits": digits}] * (repeat - 1)
        else:
            parts = [text] + [_("Je répète : %(text)s") % {"text": text}] * (repeat - 1)
        parts.append(_("Au revoir."))
    return Script(" ".join(parts), language)


@functools.cache
def _voices() -> frozenset[str]:
    result = subprocess.run(  # noqa: S603
        ["espeak-ng", "--voices"], capture_output=True, text=True, check=True, timeout=10
    )
    voices = set()
    for line in result.stdout.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 5:
            voices.add(fields[1])
    return frozenset(voices)


def voice_for(language: str) -> str:
    """espeak-ng's voice for a language code ("fr", "pt-BR"...), French when it has none."""
    available = _voices()
    language = language.lower()
    base = language.split("-")[0]
    # espeak-ng names some voices by region only ("fr-fr", "en-gb"): the language's own
    # country first, then any voice of that language.
    for candidate in (language, base, f"{base}-{base}", "en-gb" if base == "en" else ""):
        if candidate in available:
            return candidate
    regional = sorted(voice for voice in available if voice.startswith(f"{base}-"))
    return regional[0] if regional else "fr-fr"


def check_tools() -> None:
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        raise SpeechError(f"{', '.join(missing)} not found on PATH: apt-get install espeak-ng sox")


async def _run(argv: list[str], stdin: bytes | None = None) -> bytes:
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await process.communicate(stdin)
    if process.returncode != 0:
        raise SpeechError(f"{argv[0]} exited with {process.returncode}: {err.decode()[-300:]}")
    return out


async def synthesize(text: str, language: str) -> bytes:
    """``text`` spoken in ``language``: 16-bit little-endian PCM, 8 kHz mono."""
    check_tools()
    voice = await asyncio.to_thread(voice_for, language)
    wav = await _run(
        ["espeak-ng", "-v", voice, "-s", str(WORDS_PER_MINUTE), "--stdout", "--", text]
    )
    # Telephone band: resampled with sox's anti-aliasing filter, levelled to -3 dBFS.
    pcm = await _run(
        [
            "sox",
            "-t", "wav", "-",
            "-t", "raw", "-r", str(SAMPLE_RATE), "-c", "1", "-e", "signed", "-b", "16", "-L", "-",
            "norm", "-3",
        ],
        stdin=wav,
    )  # fmt: skip
    return bytes(int(LEAD_IN_SECONDS * SAMPLE_RATE) * 2) + pcm
