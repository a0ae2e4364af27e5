"""Start one Kannel program: ``python notify/kannel_launch.py NAME CONF [PORT] [OPTIONS]``.

smsbox and fakesmsc give up at once (smsbox panics) when bearerbox does not listen yet,
and the supervisor starts everything together: so they wait for bearerbox's port
first, then this process becomes the program (exec), so that signals reach it.
"""

from __future__ import annotations

import os
import socket
import sys
import time

FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
WAIT_SECONDS = 30


def wait_for_port(port: int, timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"bearerbox does not listen on 127.0.0.1:{port}") from None
            # Another process's port has no event to wait on; retry a few times a second.
            time.sleep(0.2)


def main(argv: list[str]) -> None:
    name, conf = argv[0], argv[1]
    # Anything after the port goes to the program before its configuration: "-v 2" in the
    # systemd units, so that the console (the journal) gets no sendsms line (a number and
    # its text) at info level.
    if name == "bearerbox":
        os.execvp("bearerbox", ["bearerbox", *argv[2:], conf])
    port = int(argv[2])
    wait_for_port(port)
    if name == "smsbox":
        os.execvp("smsbox", ["smsbox", *argv[3:], conf])
    if name == "fakesmsc":
        # -m 0: send no mobile-originated message, print what it receives.
        os.execv(FAKESMSC, [FAKESMSC, "-H", "127.0.0.1", "-r", str(port), "-m", "0", "0 0 text x"])
    raise SystemExit(f"unknown Kannel program {name}")


if __name__ == "__main__":
    main(sys.argv[1:])
