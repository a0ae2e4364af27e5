import struct

import pytest

pytestmark = pytest.mark.django_db


def test_it_serves_a_favicon_at_the_root_that_browsers_ask_for(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert "max-age" in response["Cache-Control"]
    icon = b"".join(response.streaming_content) if response.streaming else response.content
    reserved, kind, count = struct.unpack("<HHH", icon[:6])
    assert (reserved, kind) == (0, 1) and count >= 1
    # Each image of the icon is a PNG (16, 32 and 48 pixels).
    sizes = []
    for index in range(count):
        width, _h, _c, _r, _p, _b, length, offset = struct.unpack(
            "<BBBBHHII", icon[6 + 16 * index : 22 + 16 * index]
        )
        assert icon[offset : offset + 8] == b"\x89PNG\r\n\x1a\n"
        assert offset + length <= len(icon)
        sizes.append(width)
    assert 32 in sizes
