"""Demo data contributed by later layers; each adds itself here idempotently."""


def extend(command, establishment, admin) -> None:
    return None
