#!/usr/bin/env bash
# Install or upgrade camsvc as systemd services on an edge box. Idempotent: running it again with the same
# inputs changes nothing and leaves the service running.
#
#   sudo tools/install.sh --wheels DIR [--version V] [--config FILE] [--mediamtx PATH] [--prefix DIR]
#
# Exit codes: 0 installed and healthy; 1 bad usage or environment; 2 invalid config; 3 a port the config
# needs is in use; 4 the new release failed its health check (the previous release was switched back).
# In every non-zero case the previously running release keeps (or goes back to) running.
set -Eeuo pipefail
umask 022

PROG=install.sh
TOOLS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tools/deploy-lib.sh
. "$TOOLS_DIR/deploy-lib.sh"
SRC_ROOT=$(cd "$TOOLS_DIR/.." && pwd)

PREFIX=/opt/camera-service
VERSION=""
NEW_CONFIG=""
WHEELS=""
MEDIAMTX_SRC=""
HEALTH_TIMEOUT=60
HEALTH_GATE=auto
KEEP_RELEASES=3
PYTHON=python3

usage() {
    cat <<EOF
usage: $PROG [options]
  --wheels DIR         install offline from a wheel directory (camsvc and all its dependencies)
  --version V          camsvc version to install (default: the newest camsvc wheel in --wheels,
                       or the version of the checkout this script sits in)
  --config FILE        new service config; validated with the new release, installed as
                       $CONFIG_PATH after a timestamped backup of the old one
  --mediamtx PATH      MediaMTX binary or release .tar.gz to install and run as mediamtx.service
  --prefix DIR         install root (default $PREFIX)
  --health-timeout S   seconds to wait for the health check (default $HEALTH_TIMEOUT)
  --health-gate G      ready | live | auto (default auto: ready when MediaMTX is installed, else live)
  --keep N             releases kept on disk, current and previous included (default $KEEP_RELEASES)
  --python PATH        interpreter for the release venv (default python3, needs 3.11+ and venv)
EOF
}

need_value() { [ $# -ge 2 ] && [ -n "$2" ] || die 1 "$1 needs a value (see --help)"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) need_value "$@"; PREFIX=$2; shift 2 ;;
        --version) need_value "$@"; VERSION=$2; shift 2 ;;
        --config) need_value "$@"; NEW_CONFIG=$2; shift 2 ;;
        --wheels) need_value "$@"; WHEELS=$2; shift 2 ;;
        --mediamtx) need_value "$@"; MEDIAMTX_SRC=$2; shift 2 ;;
        --health-timeout) need_value "$@"; HEALTH_TIMEOUT=$2; shift 2 ;;
        --health-gate) need_value "$@"; HEALTH_GATE=$2; shift 2 ;;
        --keep) need_value "$@"; KEEP_RELEASES=$2; shift 2 ;;
        --python) need_value "$@"; PYTHON=$2; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die 1 "unknown argument: $1" ;;
    esac
done

# ---------------------------------------------------------------- preflight: nothing is changed yet
case "$PREFIX" in /?*) ;; *) die 1 "--prefix must be an absolute path other than /, got '$PREFIX'" ;; esac
PREFIX=${PREFIX%/}
[[ "$HEALTH_TIMEOUT" =~ ^[0-9]+$ ]] || die 1 "--health-timeout must be whole seconds, got '$HEALTH_TIMEOUT'"
[[ "$KEEP_RELEASES" =~ ^[0-9]+$ ]] && [ "$KEEP_RELEASES" -ge 2 ] || die 1 "--keep must be 2 or more"
case "$HEALTH_GATE" in auto | ready | live) ;; *) die 1 "--health-gate must be ready, live or auto" ;; esac
require_root
require_systemd
command -v "$PYTHON" >/dev/null || die 1 "python interpreter '$PYTHON' not found (apt-get install python3)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die 1 "$PYTHON is $("$PYTHON" -V 2>&1); camsvc needs Python 3.11 or newer"
"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null ||
    die 1 "$PYTHON cannot create virtual environments (apt-get install python3-venv)"

if [ -n "$WHEELS" ]; then
    [ -d "$WHEELS" ] || die 1 "wheel directory '$WHEELS' does not exist"
    WHEELS=$(cd "$WHEELS" && pwd)
    if [ -z "$VERSION" ]; then
        VERSION=$(find "$WHEELS" -maxdepth 1 -name 'camsvc-*.whl' -printf '%f\n' |
            sed -E 's/^camsvc-([^-]+)-.*/\1/' | sort -V | tail -n 1)
        [ -n "$VERSION" ] || die 1 "no camsvc-*.whl in '$WHEELS' (build it with: pip wheel -w DIR .)"
        say "installing camsvc $VERSION, the newest wheel in $WHEELS"
    fi
    compgen -G "$WHEELS/camsvc-$VERSION-*.whl" >/dev/null ||
        die 1 "no wheel for camsvc $VERSION in '$WHEELS' (found: $(cd "$WHEELS" && ls camsvc-*.whl 2>/dev/null | tr '\n' ' '))"
    PIP_SOURCE=(--no-index --find-links "$WHEELS" "camsvc==$VERSION")
else
    [ -f "$SRC_ROOT/pyproject.toml" ] ||
        die 1 "no --wheels given and $SRC_ROOT is not a camsvc checkout; pass --wheels DIR for an offline install"
    SRC_VERSION=$("$PYTHON" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' \
        "$SRC_ROOT/pyproject.toml")
    [ -z "$VERSION" ] || [ "$VERSION" = "$SRC_VERSION" ] ||
        die 1 "--version $VERSION does not match the checkout's version $SRC_VERSION"
    VERSION=$SRC_VERSION
    PIP_SOURCE=("$SRC_ROOT")
fi
[[ "$VERSION" =~ ^[A-Za-z0-9][A-Za-z0-9.+_-]*$ ]] || die 1 "invalid version '$VERSION'"

if [ -n "$NEW_CONFIG" ]; then
    [ -f "$NEW_CONFIG" ] && [ -r "$NEW_CONFIG" ] || die 1 "config file '$NEW_CONFIG' does not exist or is unreadable"
    NEW_CONFIG=$(readlink -f "$NEW_CONFIG")
fi
if [ -n "$MEDIAMTX_SRC" ]; then
    [ -f "$MEDIAMTX_SRC" ] || die 1 "MediaMTX '$MEDIAMTX_SRC' does not exist"
    # Unpack it aside and run it once: a release for another CPU fails here, not as a unit that keeps restarting.
    MEDIAMTX_PROBE=$(mktemp -d)
    case "$MEDIAMTX_SRC" in
        *.tar.gz | *.tgz)
            tar -xzf "$MEDIAMTX_SRC" -C "$MEDIAMTX_PROBE" mediamtx >/dev/null 2>&1 || {
                rm -rf "$MEDIAMTX_PROBE"
                die 1 "'$MEDIAMTX_SRC' has no 'mediamtx' binary at its top level (expected a MediaMTX release archive)"
            }
            ;;
        *) cp "$MEDIAMTX_SRC" "$MEDIAMTX_PROBE/mediamtx" ;;
    esac
    chmod 0755 "$MEDIAMTX_PROBE/mediamtx"
    if ! MEDIAMTX_VERSION=$("$MEDIAMTX_PROBE/mediamtx" --version 2>&1 | head -n 1) || [ -z "$MEDIAMTX_VERSION" ]; then
        rm -rf "$MEDIAMTX_PROBE"
        die 1 "'$MEDIAMTX_SRC' does not run on this $(uname -m) machine (${MEDIAMTX_VERSION:-no output}); download the MediaMTX release for this CPU"
    fi
    rm -rf "$MEDIAMTX_PROBE"
    say "MediaMTX to install: $MEDIAMTX_SRC ($MEDIAMTX_VERSION)"
fi

take_lock
RELEASE=$PREFIX/releases/$VERSION
PREVIOUS=$(release_of "$PREFIX/current")
PREVIOUS_LINK=$(release_of "$PREFIX/previous")
PREVIOUS_IS_SAME=""
[ "$PREVIOUS" != "$RELEASE" ] || PREVIOUS_IS_SAME=1
RUNNING_NOW=nothing
[ -z "$PREVIOUS" ] || RUNNING_NOW=$(basename "$PREVIOUS")
say "installing camsvc $VERSION into $PREFIX (installed now: $RUNNING_NOW)"

# ---------------------------------------------------------------- users and groups
ensure_group() { getent group "$1" >/dev/null || groupadd --system "$1"; }
ensure_user() {
    local user=$1 home=$2 groups=$3
    if ! getent passwd "$user" >/dev/null; then
        useradd --system --user-group --home-dir "$home" --no-create-home --shell /usr/sbin/nologin \
            --comment "$user daemon" --groups "$groups" "$user"
        say "created system user $user (groups: $groups)"
    else
        usermod --append --groups "$groups" "$user"
    fi
}
ensure_group video
ensure_user "$SERVICE_USER" /var/lib/camera-service video
ensure_user "$MEDIAMTX_USER" /nonexistent "video,$SERVICE_USER"

# ---------------------------------------------------------------- release venv (built in place: venv
# scripts carry absolute shebangs, so it cannot be built elsewhere and moved; .complete marks it whole)
mkdir -p "$PREFIX/releases" "$PREFIX/bin"
if [ -f "$RELEASE/.complete" ]; then
    say "release $VERSION already built, reusing it"
else
    rm -rf "$RELEASE"
    say "building release venv $RELEASE"
    "$PYTHON" -m venv "$RELEASE/venv" || die 1 "could not create a venv with $PYTHON"
    if ! PIP_LOG=$("$RELEASE/venv/bin/pip" install --disable-pip-version-check --no-cache-dir --quiet \
        "${PIP_SOURCE[@]}" 2>&1); then
        printf '%s\n' "$PIP_LOG" | tail -n 15 >&2
        rm -rf "$RELEASE"
        die 1 "pip could not install camsvc $VERSION${WHEELS:+ from $WHEELS (are the wheels of all dependencies there?)}; nothing was switched"
    fi
    INSTALLED=$("$RELEASE/venv/bin/python" -c 'import importlib.metadata as m; print(m.version("camsvc"))')
    if [ "$INSTALLED" != "$VERSION" ]; then
        rm -rf "$RELEASE"
        die 1 "pip installed camsvc $INSTALLED, expected $VERSION; nothing was switched"
    fi
    [ -x "$RELEASE/venv/bin/camsvc" ] || { rm -rf "$RELEASE"; die 1 "the camsvc console script is missing from the release"; }
    [ ! -f "$SRC_ROOT/docs/deployment.md" ] || install -D -m 0644 "$SRC_ROOT/docs/deployment.md" "$RELEASE/docs/deployment.md"
    printf 'version=%s\ninstalled=%s\nsource=%s\n' "$VERSION" "$(date -u +%FT%TZ)" "${WHEELS:-$SRC_ROOT}" >"$RELEASE/.complete"
fi

# ---------------------------------------------------------------- config: choose, validate with the
# NEW release, and only then back up and replace
mkdir -p "$CONF_DIR"
CONFIG_CHANGED=0
if [ -n "$NEW_CONFIG" ]; then
    CANDIDATE=$NEW_CONFIG
elif [ -f "$CONFIG_PATH" ]; then
    CANDIDATE=$CONFIG_PATH
elif [ -f "$SRC_ROOT/conf/camsvc.yaml" ]; then
    CANDIDATE=$SRC_ROOT/conf/camsvc.yaml
else
    CANDIDATE=$(mktemp)
    trap 'rm -f "$CANDIDATE"' EXIT
    printf '# camsvc configuration: every key and its default is documented in conf/camsvc.yaml.\n{}\n' >"$CANDIDATE"
fi
if ! CHECK_OUT=$("$RELEASE/venv/bin/camsvc" check-config "$CANDIDATE" 2>&1); then
    printf '%s\n' "$CHECK_OUT" | sed 's/^/  /' >&2
    die 2 "config $CANDIDATE is invalid for camsvc $VERSION (see above); nothing was switched${PREVIOUS:+, $RUNNING_NOW keeps running}"
fi
load_facts "$RELEASE" "$CANDIDATE"

# ---------------------------------------------------------------- ports: refuse before touching anything
if ! check_ports_free "$RELEASE" "$SERVER_PORT" "$HTTP_PORT"; then
    die 3 "the ports camsvc needs (server.port $SERVER_PORT, http.port $HTTP_PORT) are taken by another program (see above); stop it or change the ports in the config; nothing was switched${PREVIOUS:+, $RUNNING_NOW keeps running}"
fi

# ---------------------------------------------------------------- data directories: created, never emptied
# setgid + group rwx: files MediaMTX records stay in group camera-service, so camsvc can list and delete them.
for dir in "${DATA_DIRS[@]}" "$RECORDINGS_DIR" "$SNAPSHOTS_DIR" "$STATE_DIR" ${LOG_FILE:+"$(dirname "$LOG_FILE")"}; do
    install -d -m 2770 -o "$SERVICE_USER" -g "$SERVICE_USER" "$dir"
done

# ---------------------------------------------------------------- write the config (backup first)
BACKUP=""
if [ "$CANDIDATE" != "$CONFIG_PATH" ]; then
    if [ -f "$CONFIG_PATH" ] && cmp -s "$CANDIDATE" "$CONFIG_PATH"; then
        :
    else
        if [ -f "$CONFIG_PATH" ]; then
            BACKUP=$CONFIG_PATH.bak-$(date +%Y%m%dT%H%M%S)
            n=1
            while [ -e "$BACKUP" ]; do BACKUP=$CONFIG_PATH.bak-$(date +%Y%m%dT%H%M%S)-$n; n=$((n + 1)); done
            cp -p "$CONFIG_PATH" "$BACKUP"
            say "backed up the old config to $BACKUP"
        fi
        install -m 0640 -o root -g "$SERVICE_USER" "$CANDIDATE" "$CONFIG_PATH.new"
        mv -f "$CONFIG_PATH.new" "$CONFIG_PATH"
        CONFIG_CHANGED=1
        say "installed config $CONFIG_PATH"
    fi
fi

# ---------------------------------------------------------------- MediaMTX binary and config
MEDIAMTX_BIN=$PREFIX/mediamtx/mediamtx
MEDIAMTX_CHANGED=0
if [ -n "$MEDIAMTX_SRC" ]; then
    mkdir -p "$PREFIX/mediamtx"
    rm -rf "$PREFIX/mediamtx/.new"
    mkdir "$PREFIX/mediamtx/.new"
    case "$MEDIAMTX_SRC" in
        *.tar.gz | *.tgz)
            tar -xzf "$MEDIAMTX_SRC" -C "$PREFIX/mediamtx/.new" mediamtx 2>/dev/null ||
                die 1 "'$MEDIAMTX_SRC' has no 'mediamtx' binary at its top level"
            ;;
        *) cp "$MEDIAMTX_SRC" "$PREFIX/mediamtx/.new/mediamtx" ;;
    esac
    chmod 0755 "$PREFIX/mediamtx/.new/mediamtx"
    if cmp -s "$PREFIX/mediamtx/.new/mediamtx" "$MEDIAMTX_BIN"; then
        rm -rf "$PREFIX/mediamtx/.new"
    else
        mv -f "$PREFIX/mediamtx/.new/mediamtx" "$MEDIAMTX_BIN"
        rm -rf "$PREFIX/mediamtx/.new"
        MEDIAMTX_CHANGED=1
        say "installed MediaMTX binary $MEDIAMTX_BIN"
    fi
fi
HAVE_MEDIAMTX=0
[ -x "$MEDIAMTX_BIN" ] && HAVE_MEDIAMTX=1
if [ "$HAVE_MEDIAMTX" = 1 ] && [ ! -f "$MEDIAMTX_CONFIG_PATH" ]; then
    if [ -f "$SRC_ROOT/conf/mediamtx.yml" ]; then
        install -m 0640 -o root -g "$MEDIAMTX_USER" "$SRC_ROOT/conf/mediamtx.yml" "$MEDIAMTX_CONFIG_PATH"
    else
        printf '# MediaMTX beside camsvc: control API on loopback only.\napi: yes\napiAddress: 127.0.0.1:9997\n' \
            | install -m 0640 -o root -g "$MEDIAMTX_USER" /dev/stdin "$MEDIAMTX_CONFIG_PATH"
    fi
fi

# ---------------------------------------------------------------- units (prefix substituted), drop-ins
install_unit() {  # install_unit SRC DEST -> returns 0 when the file changed
    local tmp
    tmp=$(mktemp)
    sed "s#/opt/camera-service/#$PREFIX/#g" "$1" >"$tmp"
    if [ -f "$2" ] && cmp -s "$tmp" "$2"; then
        rm -f "$tmp"
        return 1
    fi
    install -m 0644 "$tmp" "$2"
    rm -f "$tmp"
}
UNITS_CHANGED=0
install_unit "$TOOLS_DIR/../conf/systemd/camera-service.service" "$UNIT_DIR/$SERVICE_UNIT" && UNITS_CHANGED=1
if [ "$HAVE_MEDIAMTX" = 1 ]; then
    install_unit "$TOOLS_DIR/../conf/systemd/mediamtx.service" "$UNIT_DIR/$MEDIAMTX_UNIT" && MEDIAMTX_CHANGED=1
fi
# Non-default data directories must be writable under ProtectSystem=strict: a drop-in per unit.
write_paths_dropin() {  # write_paths_dropin UNIT DIR... -> sets UNITS_CHANGED when the drop-in changed
    local unit=$1 dir extra=""
    shift
    for dir in "$@"; do
        case " ${DATA_DIRS[*]} " in *" $dir "*) ;; *) extra+=" $dir" ;; esac
    done
    local dropin=$UNIT_DIR/$unit.d/10-data-paths.conf
    if [ -n "$extra" ]; then
        mkdir -p "$UNIT_DIR/$unit.d"
        printf '# Written by install.sh from %s\n[Service]\nReadWritePaths=%s\n' "$CONFIG_PATH" "${extra# }" >"$dropin.new"
        if cmp -s "$dropin.new" "$dropin"; then rm -f "$dropin.new"; else mv -f "$dropin.new" "$dropin"; UNITS_CHANGED=1; fi
    elif [ -f "$dropin" ]; then
        rm -f "$dropin"
        UNITS_CHANGED=1
    fi
}
write_paths_dropin "$SERVICE_UNIT" "$RECORDINGS_DIR" "$SNAPSHOTS_DIR" "$STATE_DIR" ${LOG_FILE:+"$(dirname "$LOG_FILE")"}
if [ "$HAVE_MEDIAMTX" = 1 ]; then
    BEFORE=$UNITS_CHANGED
    write_paths_dropin "$MEDIAMTX_UNIT" "$RECORDINGS_DIR"
    if [ "$UNITS_CHANGED" != "$BEFORE" ]; then MEDIAMTX_CHANGED=1; UNITS_CHANGED=$BEFORE; fi
fi
if ! cmp -s "$SRC_ROOT/conf/journald/journald@camera-service.conf" "$JOURNALD_CONF" 2>/dev/null; then
    install -m 0644 "$SRC_ROOT/conf/journald/journald@camera-service.conf" "$JOURNALD_CONF"
    # The namespace journald reads its config at start; the next unit start brings it up anew.
    systemctl try-restart systemd-journald@camera-service.service 2>/dev/null || true
fi
# Keep the operator tools beside the install, so rollback and uninstall work without this checkout.
for tool in deploy-lib.sh deploy_helper.py rollback.sh uninstall.sh deploy-transient; do
    install -m 0755 "$TOOLS_DIR/$tool" "$PREFIX/bin/$tool"
done
mkdir -p "$PREFIX/conf/systemd"
install -m 0644 "$TOOLS_DIR/../conf/systemd/camera-service.service" "$PREFIX/conf/systemd/"

# ---------------------------------------------------------------- switch and (re)start
if [ -z "$PREVIOUS_IS_SAME" ]; then
    switch_link "$PREFIX" current "$RELEASE"
    [ -z "$PREVIOUS" ] || switch_link "$PREFIX" previous "$PREVIOUS"
    say "switched $PREFIX/current to $VERSION${PREVIOUS:+ (previous: $(basename "$PREVIOUS"))}"
fi
systemctl daemon-reload
if [ "$HAVE_MEDIAMTX" = 1 ]; then
    systemctl enable --quiet "$MEDIAMTX_UNIT"
    # Restarting MediaMTX drops every stream: only when its binary, unit or paths changed.
    MEDIAMTX_ACTION=start
    [ "$MEDIAMTX_CHANGED" = 0 ] || MEDIAMTX_ACTION=restart
    systemctl "$MEDIAMTX_ACTION" "$MEDIAMTX_UNIT" || warn "$MEDIAMTX_UNIT did not start (journalctl --namespace=camera-service -u $MEDIAMTX_UNIT)"
fi
systemctl enable --quiet "$SERVICE_UNIT"

GATE=$HEALTH_GATE
if [ "$GATE" = auto ]; then
    if [ "$HAVE_MEDIAMTX" = 1 ] || systemctl cat "$MEDIAMTX_UNIT" >/dev/null 2>&1; then GATE=ready; else GATE=live; fi
fi
HEALTH_URL="http://$(probe_host "$HTTP_HOST"):$HTTP_PORT/health/$GATE"

start_and_check() {
    local action=restart
    if [ -n "$PREVIOUS_IS_SAME" ] && [ "$CONFIG_CHANGED$UNITS_CHANGED" = 00 ] && systemctl is-active --quiet "$SERVICE_UNIT"; then
        action=""  # nothing changed: leave the running service alone
    fi
    # reset-failed: several deploys in a row must not trip the unit's start rate limit.
    systemctl reset-failed "$SERVICE_UNIT" 2>/dev/null || true
    if [ -n "$action" ] && ! systemctl "$action" "$SERVICE_UNIT"; then
        return 1
    fi
    wait_health "$RELEASE" "$HEALTH_URL" "$HEALTH_TIMEOUT"
}

if ! start_and_check; then
    show_service_log
    warn "camsvc $VERSION failed its health check ($HEALTH_URL)"
    BACK_TO=$RELEASE
    if [ -n "$PREVIOUS" ] && [ -z "$PREVIOUS_IS_SAME" ]; then
        switch_link "$PREFIX" current "$PREVIOUS"
        if [ -n "$PREVIOUS_LINK" ]; then switch_link "$PREFIX" previous "$PREVIOUS_LINK"; else rm -f "$PREFIX/previous"; fi
        BACK_TO=$PREVIOUS
        warn "switched $PREFIX/current back to $RUNNING_NOW"
    fi
    if [ "$CONFIG_CHANGED" = 1 ] && [ -n "$BACKUP" ]; then
        cp -p "$BACKUP" "$CONFIG_PATH"
        warn "restored the previous config from $BACKUP"
    fi
    if [ "$BACK_TO" = "$RELEASE" ] && [ -z "$BACKUP" ]; then
        die 4 "camsvc $VERSION was not healthy within ${HEALTH_TIMEOUT}s and there is nothing to go back to; see journalctl --namespace=camera-service -u $SERVICE_UNIT"
    fi
    systemctl restart "$SERVICE_UNIT" || true
    if wait_health "$BACK_TO" "$HEALTH_URL" "$HEALTH_TIMEOUT" >/dev/null; then
        die 4 "camsvc $VERSION was not healthy within ${HEALTH_TIMEOUT}s; $(basename "$BACK_TO") with the previous config is running again"
    fi
    die 4 "camsvc $VERSION was not healthy within ${HEALTH_TIMEOUT}s; went back to $(basename "$BACK_TO") with the previous config, which is not healthy either: see journalctl --namespace=camera-service -u $SERVICE_UNIT"
fi

# ---------------------------------------------------------------- prune old releases (never current/previous)
CURRENT_NOW=$(release_of "$PREFIX/current")
PREVIOUS_NOW=$(release_of "$PREFIX/previous")
mapfile -t OLD < <(find "$PREFIX/releases" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %p\n' | sort -rn | cut -d' ' -f2-)
KEPT=0
for dir in "${OLD[@]}"; do
    if [ "$dir" = "$CURRENT_NOW" ] || [ "$dir" = "$PREVIOUS_NOW" ]; then continue; fi
    KEPT=$((KEPT + 1))
    if [ $((KEPT + 2)) -gt "$KEEP_RELEASES" ]; then
        rm -rf "$dir"
        say "removed old release $(basename "$dir")"
    fi
done

if [ "$HAVE_MEDIAMTX" = 0 ]; then
    cat <<EOF
$PROG: MediaMTX is not installed, so /health/ready stays 503 (the install was gated on /health/live).
  To add it: download the MediaMTX release for this CPU (linux_amd64, linux_arm64v8, ...) and run
    sudo $0 --wheels DIR --mediamtx mediamtx_vX.Y.Z_linux_ARCH.tar.gz
  or put the binary at $MEDIAMTX_BIN and re-run this installer.
EOF
fi
say "camsvc $VERSION is running and healthy ($HEALTH_URL) after $(elapsed) s"
say "logs: journalctl --namespace=camera-service -u $SERVICE_UNIT -f;  rollback: $PREFIX/bin/rollback.sh"
