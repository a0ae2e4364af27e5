"""Reading configuration from the environment.

Every variable read here is documented in docs/configuration.md. Secrets may also
be given as a path in ``<NAME>_FILE`` so that they never have to sit in the
process environment (systemd credentials, Docker/Kubernetes secrets).
"""

import os
from pathlib import Path


class ConfigurationError(RuntimeError):
    pass


def get(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value


def flag(name: str, default: bool = False) -> bool:
    value = get(name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name} must be a boolean (1/0, true/false), got {value!r}")


def integer(name: str, default: int) -> int:
    value = get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {value!r}") from None


def number(name: str, default: float) -> float:
    value = get(name)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {value!r}") from None


def secret(name: str, *, required: bool, dev_default: str | None = None) -> str | None:
    """A secret from NAME, or from the file named by NAME_FILE.

    ``required`` is true in production: then a missing secret stops the process
    at startup instead of failing later on the first request that needs it.
    """
    value = get(name)
    path = get(f"{name}_FILE")
    if value is not None and path is not None:
        raise ConfigurationError(f"Set either {name} or {name}_FILE, not both")
    if path is not None:
        try:
            value = Path(path).read_text().strip()
        except OSError as exc:
            raise ConfigurationError(f"{name}_FILE={path} cannot be read: {exc}") from None
        if not value:
            raise ConfigurationError(f"{name}_FILE={path} is empty")
    if value is None:
        if required:
            raise ConfigurationError(
                f"{name} (or {name}_FILE) is required when PARLOIR_DEBUG is off; "
                "see docs/configuration.md"
            )
        return dev_default
    return value


def networks(name: str) -> list[str]:
    """Comma-separated IP addresses or networks (CIDR); checked now, not at first use."""
    import ipaddress

    entries = [entry.strip() for entry in (get(name) or "").split(",") if entry.strip()]
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigurationError(f"{name}: {entry!r} is not an IP address or network") from None
    return entries
