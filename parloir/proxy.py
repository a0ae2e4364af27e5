"""The relative's own address behind the reverse proxy.

Daphne listens on loopback behind a TLS proxy, so every request comes from the proxy's
address. The code limits count per address, and consents keep it: with the proxy's, ten
wrong codes from anyone would lock out every family. The proxies listed in
PARLOIR_TRUSTED_PROXIES name the client in X-Forwarded-For; anybody else's header is
ignored, since a client can send one of its own.
"""

import ipaddress

from django.conf import settings


def _networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(entry, strict=False) for entry in settings.TRUSTED_PROXIES]


def _is_trusted(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(meta: dict, networks) -> str:
    """The nearest address in the forwarding chain that is not one of our proxies."""
    peer = meta.get("REMOTE_ADDR", "")
    if not networks or not _is_trusted(peer, networks):
        return peer
    chain = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for address in reversed([part for part in chain if part]):
        if not _is_trusted(address, networks):
            try:
                return str(ipaddress.ip_address(address))
            except ValueError:
                return peer  # a mangled header: keep what the socket says
    return peer


class ForwardedClientMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        networks = _networks()
        peer = request.META.get("REMOTE_ADDR", "")
        if not _is_trusted(peer, networks):
            # Only our proxy may say the client used HTTPS (SECURE_PROXY_SSL_HEADER):
            # anyone else's claim would earn HSTS and secure cookies on plain HTTP.
            header = settings.SECURE_PROXY_SSL_HEADER
            if header:
                request.META.pop(header[0], None)
        if networks:
            request.META["REMOTE_ADDR"] = client_address(request.META, networks)
        return self.get_response(request)
