# shellcheck shell=bash disable=SC2034
# Shared shell functions for install.sh, rollback.sh and uninstall.sh (sourced, not executed).
# Layout: <prefix>/releases/<version>/venv   one venv per release, built from wheels
#         <prefix>/current  -> releases/<v>   what systemd runs (switched atomically with rename(2))
#         <prefix>/previous -> releases/<u>   what rollback.sh goes back to
#         <prefix>/bin/                       these scripts, so an installed box can roll back or uninstall
#         <prefix>/mediamtx/mediamtx          the MediaMTX binary, when installed by us

SERVICE_USER=camera-service
MEDIAMTX_USER=mediamtx
SERVICE_UNIT=camera-service.service
MEDIAMTX_UNIT=mediamtx.service
CONF_DIR=/etc/camera-service
CONFIG_PATH=$CONF_DIR/camsvc.yaml
MEDIAMTX_CONFIG_PATH=$CONF_DIR/mediamtx.yml
UNIT_DIR=/etc/systemd/system
JOURNALD_CONF=/etc/systemd/journald@camera-service.conf
DATA_DIRS=(/var/recordings /var/snapshots /var/lib/camera-service /var/log/camera-service)
LOCK_FILE=/run/camera-service-deploy.lock

PROG=${PROG:-$(basename "$0")}
START_TIME=$(date +%s.%N)

say() { printf '%s: %s\n' "$PROG" "$*"; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }
# die CODE MESSAGE...: a clear message and a documented exit code, never a bare `set -e` stop.
die() {
    local code=$1
    shift
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit "$code"
}

elapsed() { awk -v s="$START_TIME" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }

require_root() {
    [ "$(id -u)" = 0 ] || die 1 "must run as root (it manages users, /etc and systemd units)"
}

require_systemd() {
    command -v systemctl >/dev/null || die 1 "systemctl not found: this needs a systemd host"
    [ -d /run/systemd/system ] || die 1 "systemd is not running as init here (no /run/systemd/system)"
}

# One deployment at a time; a second one fails at once instead of interleaving symlink switches.
take_lock() {
    exec 9>"$LOCK_FILE"
    flock -n 9 || die 1 "another install/rollback/uninstall is running (lock $LOCK_FILE)"
}

# Print the release directory a symlink points to ("" when absent).
release_of() {
    local link=$1
    [ -L "$link" ] || return 0
    readlink -f "$link"
}

# Atomically point <prefix>/<name> at a release directory (rename(2) of a fresh symlink).
switch_link() {
    local prefix=$1 name=$2 target=$3
    ln -sfn "releases/$(basename "$target")" "$prefix/.$name.new"
    mv -Tf "$prefix/.$name.new" "$prefix/$name"
}

# Read ports and directories from a config with the given release's python (it has PyYAML).
load_facts() {
    local release=$1 config=$2 helper
    helper=$(dirname "${BASH_SOURCE[0]}")/deploy_helper.py
    local out
    out=$("$release/venv/bin/python" "$helper" facts "$config") || die 2 "could not read ports and directories from $config"
    eval "$out"
}

# Fail with code 3 when a port the config needs is held by anything but camera-service itself.
check_ports_free() {
    local release=$1 helper port pid unit cmd conflicts=""
    shift
    helper=$(dirname "${BASH_SOURCE[0]}")/deploy_helper.py
    while read -r port pid unit cmd; do
        [ -n "$port" ] || continue
        [ "$unit" = "$SERVICE_UNIT" ] && continue
        conflicts+="  port $port is in use by pid $pid ($cmd) in $unit"$'\n'
    done < <("$release/venv/bin/python" "$helper" port-owners "$@")
    if [ -n "$conflicts" ]; then
        printf '%s' "$conflicts" >&2
        return 3
    fi
}

# Poll a health URL until it answers 200 (bounded); prints the last answer either way.
wait_health() {
    local release=$1 url=$2 seconds=$3 helper
    helper=$(dirname "${BASH_SOURCE[0]}")/deploy_helper.py
    "$release/venv/bin/python" "$helper" wait-http "$url" "$seconds"
}

# The probe host for a bind address: wildcard binds answer on loopback.
probe_host() {
    case "$1" in
        "" | 0.0.0.0 | "::" | "[::]") echo 127.0.0.1 ;;
        *:*) echo "[$1]" ;;
        *) echo "$1" ;;
    esac
}

show_service_log() {
    echo "---- last log lines of $SERVICE_UNIT ----" >&2
    journalctl --namespace=camera-service -u "$SERVICE_UNIT" -n 25 --no-pager -o cat 2>/dev/null >&2 ||
        journalctl -u "$SERVICE_UNIT" -n 25 --no-pager 2>/dev/null >&2 || true
    systemctl status "$SERVICE_UNIT" --no-pager -n 0 2>/dev/null | head -5 >&2 || true
    echo "----" >&2
}
