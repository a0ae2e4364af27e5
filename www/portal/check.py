"""The pre-call check (/verifier): camera, microphone and connection, before any call.

The page needs no code and joins no call: the connection test pings the call WebSocket
(which answers ``ping`` without a ``hello``) and downloads a sample for a throughput
estimate. Nothing is recorded.
"""

import random

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

SAMPLE_BYTES = 256 * 1024
# Random bytes, so that no compressing proxy makes a slow link look fast; the same bytes at
# every start, so that the response is the same file for everyone.
_SAMPLE = random.Random(0).randbytes(SAMPLE_BYTES)  # noqa: S311 (not a secret)


@require_GET
def check(request):
    return render(request, "portal/check.html", {"ws_path": "/ws/call/"})


@require_GET
def sample(request):
    response = HttpResponse(_SAMPLE, content_type="application/octet-stream")
    response["Cache-Control"] = "no-store"
    return response
