"""What the log handler of settings.LOGGING writes, captured at every level."""

import contextlib
import io
import logging

from parloir.logmask import RedactFilter


@contextlib.contextmanager
def parloir_log():
    root = logging.getLogger()
    handler = next(h for h in root.handlers if any(isinstance(f, RedactFilter) for f in h.filters))
    buffer = io.StringIO()
    previous_stream, previous_level = handler.setStream(buffer), root.level
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        handler.setStream(previous_stream)
        root.setLevel(previous_level)
