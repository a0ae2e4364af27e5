# Shared by scripts/run and scripts/test. Sourced, not executed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Install the Debian/Ubuntu packages that are missing; never upgrades what is there.
ensure_apt_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        log "Installing system packages: ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
}

RUNTIME_PACKAGES=(python3 python3-venv python3-dev gcc gettext iproute2 janus janus-tools coturn ffmpeg espeak-ng sox kannel)
TEST_PACKAGES=(chromium firefox-esr fonts-dejavu-core kannel-extras baresip nodejs nftables haproxy libnss3-tools postgresql redis-server prometheus)
# The SMSC of the SMPP tests runs on Node; NodeSource builds bring their own npm.
command -v npm >/dev/null 2>&1 || TEST_PACKAGES+=(npm)

# A virtualenv in .venv with the pinned dependencies; reinstalls only when a requirements file changed.
ensure_venv() {
    local requirements="$1"
    if [ ! -x .venv/bin/python ]; then
        log "Creating the virtualenv in .venv"
        python3 -m venv .venv
        .venv/bin/pip install -q --upgrade pip
    fi
    local stamp=".venv/.installed-$(basename "$requirements")"
    local digest
    digest="$(cat "$requirements" requirements.txt constraints.txt | sha256sum | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
        log "Installing Python dependencies from $requirements"
        .venv/bin/pip install -q -r "$requirements" -c constraints.txt
        echo "$digest" > "$stamp"
    fi
}

# Secrets for a local installation: generated once into var/secrets (mode 600), passed as *_FILE.
ensure_local_secrets() {
    mkdir -p var/secrets
    chmod 700 var/secrets
    local name
    for name in PARLOIR_SECRET_KEY PARLOIR_JANUS_ADMIN_SECRET PARLOIR_JANUS_ROOM_ADMIN_KEY PARLOIR_TURN_SECRET PARLOIR_RECORDING_MASTER_KEY PARLOIR_KANNEL_DLR_TOKEN PARLOIR_KANNEL_PASSWORD PARLOIR_AUDIT_KEY; do
        if [ ! -s "var/secrets/$name" ]; then
            (umask 077; .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(48))' > "var/secrets/$name")
        fi
        if [ -z "${!name:-}" ] && [ -z "$(eval echo "\${${name}_FILE:-}")" ]; then
            export "${name}_FILE=$ROOT/var/secrets/$name"
        fi
    done
}

# What scripts/run gives parloir's processes, and scripts/manage its commands: the local
# secrets, and a plain-HTTP site on this machine unless told otherwise.
local_environment() {
    ensure_local_secrets
    export PARLOIR_HOST="${PARLOIR_HOST:-127.0.0.1}"
    export PARLOIR_PORT="${PARLOIR_PORT:-8000}"
    export PARLOIR_SITE_URL="${PARLOIR_SITE_URL:-http://localhost:$PARLOIR_PORT}"
    # A local demo is served over plain HTTP: secure cookies would never be sent back.
    export PARLOIR_SECURE_COOKIES="${PARLOIR_SECURE_COOKIES:-0}"
}
