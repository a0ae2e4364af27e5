from media.sdp import with_audio_packet_time

ANSWER = (
    "v=0\r\n"
    "o=- 1 1 IN IP4 10.0.0.1\r\n"
    "s=VideoRoom 1\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0 1\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    "c=IN IP4 10.0.0.1\r\n"
    "a=recvonly\r\n"
    "a=mid:0\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=ptime:20\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
    "c=IN IP4 10.0.0.1\r\n"
    "a=recvonly\r\n"
    "a=mid:1\r\n"
    "a=rtpmap:96 VP8/90000\r\n"
)


def _section(sdp: str, kind: str) -> list[str]:
    lines = sdp.split("\r\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(f"m={kind} "))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("m=")), None)
    return lines[start:end]


def test_it_asks_for_40_ms_audio_packets_in_the_audio_section_only():
    edited = with_audio_packet_time(ANSWER)
    audio = _section(edited, "audio")
    assert [line for line in audio if "ptime" in line] == ["a=ptime:40"]
    assert not [line for line in _section(edited, "video") if "ptime" in line]
    assert edited.endswith("a=rtpmap:96 VP8/90000\r\n")
    # Nothing else changed.
    assert edited.replace("a=ptime:40\r\n", "") == ANSWER.replace("a=ptime:20\r\n", "")


def test_it_handles_an_audio_section_last_and_bare_newlines():
    sdp = "v=0\nm=video 9 RTP/SAVPF 96\na=mid:0\nm=audio 9 RTP/SAVPF 111\na=mid:1\na=maxptime:120"
    edited = with_audio_packet_time(sdp, 60)
    assert edited.splitlines()[-2:] == ["a=mid:1", "a=ptime:60"]
    assert "maxptime" not in edited and "\r" not in edited


def test_it_leaves_an_sdp_without_audio_alone():
    sdp = "v=0\r\nm=video 9 RTP/SAVPF 96\r\na=mid:0\r\n"
    assert with_audio_packet_time(sdp) == sdp
