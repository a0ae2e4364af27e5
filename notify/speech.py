"""What a voice call says, in the contact's language, and the audio for it.

A call code's call carries what the guide promises: a one-time code "ainsi que les
instructions de connexion" (who calls, the site's address spelled out so that it can be
typed, the code, how long it is valid, what to do next), said slowly. The message is read
PARLOIR_VOICE_REPEAT times, then offered again on a key press (notify/backends/sip.py).

Text to speech is espeak-ng (Debian; about a hundred languages, robotic but every digit
and letter clear on a phone line), driven with SSML for the pauses, the slower pace of
the code and the address, and the address's letters one by one; sox resamples it to the
8 kHz mono that G.711 carries.
"""

from __future__ import annotations

import asyncio
import functools
import re
import shutil
import subprocess
from dataclasses import dataclass
from xml.sax.saxutils import escape

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext

SAMPLE_RATE = 8000
# Said before anything else: people say "allô" and miss the first words otherwise.
LEAD_IN_SECONDS = 0.8
# Slower than espeak's 175 words a minute, so that digits can be written down.
WORDS_PER_MINUTE = 135
# Between sentences, and between the letters and the parts of the site's address.
SENTENCE_PAUSE = '<break time="500ms"/>'
LETTER_PAUSE = '<break time="250ms"/>'
PART_PAUSE = '<break time="400ms"/>'

# The call's first sentence; whether the contact's language translates it decides the
# language of the whole call (never French words in a foreign voice).
INTRO = gettext_noop("Bonjour. Ceci est un message de parloir.")


class SpeechError(RuntimeError):
    """Synthesis failed (a missing package, an unknown voice)."""


@dataclass(frozen=True)
class Script:
    """What one call says, as SSML for espeak-ng, and the words of one reading as text."""

    heard: str  # the message up to its code: once this went out, the code was heard
    rest: str  # the rest of the message (empty for a message read from its text)
    again: str  # said before each reading after the first
    offer: str  # how to hear it once more (a key press)
    goodbye: str
    language: str  # the language the words are in, hence the voice to read them
    text: str  # the words of one reading, without markup (the outbox, the tests)


class _Words:
    """SSML and plain text built side by side."""

    def __init__(self) -> None:
        self.ssml: list[str] = []
        self.plain: list[str] = []
        self.split = 0

    def sentence(self, template: str, **parts: tuple[str, str]) -> None:
        """A translated sentence whose ``%(name)s`` are filled with (ssml, plain) parts."""
        self.ssml.append(escape(template) % {k: ssml for k, (ssml, _p) in parts.items()})
        self.plain.append(template % {k: plain for k, (_s, plain) in parts.items()})

    def mark(self) -> None:
        """What was said so far is what a callee must have heard (the code)."""
        self.split = len(self.ssml)

    def done(self) -> tuple[str, str, str]:
        split = self.split or len(self.ssml)
        return (
            SENTENCE_PAUSE.join(self.ssml[:split]),
            SENTENCE_PAUSE.join(self.ssml[split:]),
            " ".join(self.plain),
        )


def _slow(ssml: str) -> str:
    return f'<prosody rate="slow">{ssml}</prosody>'


def _digits(digits: str) -> tuple[str, str]:
    spoken = ", ".join(digits)
    return _slow(spoken), spoken


def spelled_site(site: str) -> tuple[str, str]:
    """The site's address (no scheme) letter by letter, its punctuation said in words."""
    names = {
        ".": _("point"),
        "-": _("tiret"),
        ":": _("deux-points"),
        "/": _("barre oblique"),
        "_": _("tiret bas"),
    }
    ssml, plain = [], []
    for part in re.split(r"([.:/_-])", site):
        if part in names:
            ssml.append(f"{PART_PAUSE}{escape(names[part])}{PART_PAUSE}")
            plain.append(names[part])
        elif part:
            letters = [escape(letter) for letter in part]
            ssml.append(
                LETTER_PAUSE.join(
                    f'<say-as interpret-as="characters">{letter}</say-as>' for letter in letters
                )
            )
            plain.append(", ".join(part))
    # Letter by letter with a pause is slow enough; a slower voice would only drag them.
    return "".join(ssml), ", ".join(plain)


def site_address() -> str:
    """The site as people type it: PARLOIR_SITE_URL without its scheme nor a final slash."""
    site = settings.SITE_URL.rstrip("/")
    return site.partition("://")[2] or site


def script(
    *,
    text: str,
    spoken_digits: str,
    language: str,
    name: str = "",
    minutes: int | None = None,
) -> Script:
    """The words of a call: with ``spoken_digits``, a call code's instructions (``name``
    of the detainee who calls, validity in ``minutes``); otherwise ``text`` itself.

    Where the contact's language has no translation of the call's words yet, a code's
    call is in French, read by the French voice: never French words in a foreign voice.
    """
    with translation.override(language):
        if spoken_digits and _(INTRO) == INTRO and not language.startswith("fr"):
            language = "fr"
    with translation.override(language):
        words = _Words()
        if spoken_digits:
            digits = _digits(spoken_digits)
            words.sentence(_(INTRO))
            if name:
                words.sentence(
                    _("%(name)s vous attend pour un appel vidéo."), name=(escape(name), name)
                )
            words.sentence(
                _("Sur un téléphone, une tablette ou un ordinateur, allez sur le site : %(site)s."),
                site=spelled_site(site_address()),
            )
            words.sentence(_("Entrez le code d'authentification : %(digits)s."), digits=digits)
            words.mark()
            if minutes:
                validity = ngettext(
                    "Ce code est valable %(minutes)s minute.",
                    "Ce code est valable %(minutes)s minutes.",
                    minutes,
                )
                words.sentence(validity, minutes=(str(minutes), str(minutes)))
            words.sentence(_("Acceptez ensuite les conditions et la surveillance de l'appel."))
            words.sentence(_("Je répète le code : %(digits)s."), digits=digits)
        else:
            words.sentence("%(text)s", text=(escape(text), text))
        heard, rest, plain = words.done()
        again = escape(_("Je répète."))
        offer = escape(_("Pour réécouter ce message, appuyez sur une touche de votre téléphone."))
        goodbye = escape(_("Au revoir."))
    return Script(heard, rest, again, offer, goodbye, language, plain)


def script_for(message) -> Script:
    """The words of a Message (its contact and the contact's detainee loaded)."""
    name, minutes = "", None
    if message.spoken_digits:
        contact = message.contact
        name = contact.detainee.first_name if contact is not None else ""
        if message.valid_until is not None:
            seconds = (message.valid_until - message.created_at).total_seconds()
            minutes = max(1, round(seconds / 60))
    return script(
        text=message.text,
        spoken_digits=message.spoken_digits,
        language=message.language,
        name=name,
        minutes=minutes,
    )


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


async def synthesize(ssml: str, language: str, *, lead_in: bool = True) -> bytes:
    """``ssml`` (the body of a <speak> element) spoken in ``language``: 16-bit
    little-endian PCM, 8 kHz mono, after LEAD_IN_SECONDS of silence unless told not to."""
    check_tools()
    voice = await asyncio.to_thread(voice_for, language)
    wav = await _run(
        [
            "espeak-ng", "-m", "-v", voice, "-s", str(WORDS_PER_MINUTE), "--stdout",
            "--", f"<speak>{ssml}</speak>",
        ]
    )  # fmt: skip
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
    lead = bytes(int(LEAD_IN_SECONDS * SAMPLE_RATE) * 2) if lead_in else b""
    return lead + pcm
