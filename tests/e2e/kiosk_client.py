"""A kiosk written from docs/kiosk.md (its HTTP side) and docs/signaling.md (the call).

The socket and the media are the relative's client's (doc_client.DocClient): the protocol
is the same for both sides, but for the ``code`` frames only a kiosk receives. The HTTP
steps are the document's, in its order: the device's credential, the detainee's sign-in,
"Appeler" from the home page, the call page, its keep-alive, the red button. Each step
checks the status and the ``Location`` the document promises; nothing comes from the
server's code or the reference kiosk's pages beyond what the document names.
"""

from __future__ import annotations

import re

from yarl import URL

from tests.e2e.doc_client import DocClient, PortalError


def _attribute(page: str, element: str, name: str) -> str:
    """The value of attribute ``name`` on the element with id ``element``."""
    found = re.search(rf'<[^>]*\bid="{element}"[^>]*>', page)
    value = found and re.search(rf'\b{name}="([^"]*)"', found.group(0))
    if not value:
        raise PortalError(f"no {name} on #{element}")
    return value.group(1)


class KioskDocClient(DocClient):
    receives_code_frames = True

    def __init__(self, base_url: str, language: str = "fr-FR", trickle: bool = True) -> None:
        super().__init__(base_url, language, trickle)
        self.keep_alive_url = ""
        self.keep_alive_ms = 0
        self.home_booking = ""

    def _expect(self, answer: tuple[int, str, str], status: int, location: str = "") -> None:
        got, where, _body = answer
        if (got, where) != (status, location):
            raise PortalError(f"expected {status} {location!r}, got {got} {where!r}")

    async def activate(self, credential: str) -> None:
        """1. GET /kiosk/activer, POST the credential: 302 to /kiosk/ and the cookie."""
        await self.fetch("/kiosk/activer")
        self._expect(await self.form("/kiosk/activer", {"credential": credential}), 302, "/kiosk/")
        cookies = self.http.cookie_jar.filter_cookies(URL(self.base_url))
        if "parloir_kiosk" not in cookies:
            raise PortalError("activation set no parloir_kiosk cookie")

    async def sign_in(self, prison_number: str, pin: str) -> None:
        """2. GET /kiosk/, POST prison_number and pin: 302 to /kiosk/accueil."""
        await self.fetch("/kiosk/")
        answer = await self.form("/kiosk/", {"prison_number": prison_number, "pin": pin})
        self._expect(answer, 302, "/kiosk/accueil")

    async def open_home(self) -> str:
        """3. The home page, as the kiosk shows it before anyone presses "Appeler": the
        booking its "Appeler" form (action /kiosk/appel, hidden booking) names."""
        status, _where, home = await self.fetch("/kiosk/accueil")
        form = re.search(r'<form[^>]*action="/kiosk/appel"[^>]*>(.*?)</form>', home, re.S)
        if status != 200 or form is None:
            raise PortalError(f"no 'Appeler' form on the home page ({status})")
        booking = re.search(r'name="booking" value="(\d+)"', form.group(1))
        if booking is None:
            raise PortalError("the 'Appeler' form has no booking")
        self.home_booking = booking.group(1)
        return self.home_booking

    async def press_call(self) -> int:
        """4. "Appeler" on the home page (loaded first unless open_home showed it), then
        5. the call page it leads to. Returns the call's id (data-call)."""
        booking = self.home_booking or await self.open_home()
        self.home_booking = ""
        status, where, _body = await self.form("/kiosk/appel", {"booking": booking})
        if status != 302 or not re.fullmatch(r"/kiosk/appel/\d+", where):
            raise PortalError(f"'Appeler' answered {status} {where!r}")
        status, _where, self.call_page = await self.fetch(where)
        if status != 200:
            raise PortalError(f"the call page answered {status}")
        self.keep_alive_url = _attribute(self.call_page, "call", "data-keep-alive-url")
        self.keep_alive_ms = int(_attribute(self.call_page, "call", "data-keep-alive-ms"))
        if _attribute(self.call_page, "call", "data-ws") != "/ws/call/":
            raise PortalError("the call page names another socket")
        return self.call_id()

    def code_expires(self) -> str:
        """#code-status's data-expires: when the current code expires."""
        return _attribute(self.call_page, "code-status", "data-expires")

    async def keep_alive(self) -> int:
        """The call page's heartbeat: 204 while the call is open, 410 once it is over."""
        status, _where, _body = await self.fetch(self.keep_alive_url)
        return status

    async def red_button(self, call: int) -> None:
        """POST /kiosk/appel/<id>/fin: the call ends; 302 to /kiosk/accueil."""
        self._expect(await self.form(f"/kiosk/appel/{call}/fin", {}), 302, "/kiosk/accueil")
