"""Edits parloir makes to the SDP that Janus writes, before a browser sees it."""

# Opus sent as 40 ms packets rather than browsers' usual 20 ms: half the audio packets,
# which saves a relative on a weak uplink about 10 kbit/s of packet headers each way and
# Janus a quarter of its per-packet work per call (docs/performance.md), for 20 ms more
# delay, which a conversation does not notice.
AUDIO_PACKET_MS = 40


def with_audio_packet_time(sdp: str, ms: int = AUDIO_PACKET_MS) -> str:
    """``sdp`` asking for ``ms`` of audio per packet (``a=ptime``) in its audio sections.

    A browser's encoder takes the packet time from the remote description, so this goes
    into the answers sent to publishing browsers; a browser that ignores it still works.
    """
    newline = "\r\n" if "\r\n" in sdp else "\n"
    lines = sdp.split(newline)
    trailing = lines[-1] == ""
    if trailing:
        lines.pop()
    out: list[str] = []
    in_audio = False

    def close_section() -> None:
        if in_audio:
            out.append(f"a=ptime:{ms}")

    for line in lines:
        if line.startswith("m="):
            close_section()
            in_audio = line.startswith("m=audio ")
        elif in_audio and line.startswith(("a=ptime:", "a=maxptime:")):
            continue
        out.append(line)
    close_section()
    return newline.join(out) + (newline if trailing else "")
