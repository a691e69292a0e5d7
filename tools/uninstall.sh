#!/usr/bin/env bash
# Remove camsvc's systemd units and code. Recordings, snapshots, state, logs, the config and its backups,
# and the service users are kept, so a later install picks up where this one left off.
#
#   sudo /opt/camera-service/bin/uninstall.sh [--prefix DIR] [--purge]
#
# --purge also deletes the data directories, /etc/camera-service, the camsvc journal and the users.
set -Eeuo pipefail

PROG=uninstall.sh
TOOLS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tools/deploy-lib.sh
. "$TOOLS_DIR/deploy-lib.sh"

PREFIX=/opt/camera-service
PURGE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix)
            if [ $# -lt 2 ] || [ -z "$2" ]; then die 1 "--prefix needs a value"; fi
            PREFIX=${2%/}
            shift 2
            ;;
        --purge) PURGE=1; shift ;;
        -h | --help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die 1 "unknown argument: $1 (see --help)" ;;
    esac
done
case "$PREFIX" in /?*) ;; *) die 1 "--prefix must be an absolute path other than /" ;; esac
require_root
require_systemd
take_lock

for unit in "$SERVICE_UNIT" "$MEDIAMTX_UNIT"; do
    if [ -f "$UNIT_DIR/$unit" ] || systemctl cat "$unit" >/dev/null 2>&1; then
        systemctl disable --now --quiet "$unit" 2>/dev/null || systemctl stop "$unit" 2>/dev/null || true
        rm -rf "${UNIT_DIR:?}/$unit" "${UNIT_DIR:?}/$unit.d"
        say "removed $unit"
    fi
done
rm -f "$JOURNALD_CONF"
systemctl daemon-reload
systemctl reset-failed "$SERVICE_UNIT" "$MEDIAMTX_UNIT" 2>/dev/null || true

if [ -d "$PREFIX/releases" ] || [ -L "$PREFIX/current" ]; then
    rm -rf "$PREFIX"
    say "removed $PREFIX"
elif [ -e "$PREFIX" ]; then
    warn "$PREFIX does not look like a camsvc install (no releases/), left alone"
fi

if [ "$PURGE" = 1 ]; then
    systemctl stop systemd-journald@camera-service.service 2>/dev/null || true
    rm -rf "${DATA_DIRS[@]}" "$CONF_DIR" /var/log/journal/*.camera-service
    for user in "$MEDIAMTX_USER" "$SERVICE_USER"; do
        if getent passwd "$user" >/dev/null; then userdel "$user"; fi
        if getent group "$user" >/dev/null; then groupdel "$user"; fi
    done
    say "purged data, config, logs and users (after $(elapsed) s)"
else
    say "kept data (${DATA_DIRS[*]}), config and backups ($CONF_DIR) and users; --purge removes them"
    say "uninstalled in $(elapsed) s"
fi
