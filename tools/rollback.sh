#!/usr/bin/env bash
# Switch camsvc back to the previous release, restart it and check its health; if the previous release is
# not healthy, switch forward again and exit non-zero. Running it twice returns to where you started.
#
#   sudo /opt/camera-service/bin/rollback.sh [--prefix DIR] [--health-timeout S] [--health-gate ready|live|auto]
#
# Exit codes: 0 rolled back and healthy; 1 nothing to roll back to / bad usage; 2 the current config is not
# valid for the previous release (nothing switched); 4 the previous release failed health (switched forward).
set -Eeuo pipefail
umask 022

PROG=rollback.sh
TOOLS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tools/deploy-lib.sh
. "$TOOLS_DIR/deploy-lib.sh"

PREFIX=/opt/camera-service
HEALTH_TIMEOUT=60
HEALTH_GATE=auto
need_value() { if [ $# -lt 2 ] || [ -z "$2" ]; then die 1 "$1 needs a value"; fi; }
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) need_value "$@"; PREFIX=${2%/}; shift 2 ;;
        --health-timeout) need_value "$@"; HEALTH_TIMEOUT=$2; shift 2 ;;
        --health-gate) need_value "$@"; HEALTH_GATE=$2; shift 2 ;;
        -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die 1 "unknown argument: $1 (see --help)" ;;
    esac
done
[[ "$HEALTH_TIMEOUT" =~ ^[0-9]+$ ]] || die 1 "--health-timeout must be whole seconds, got '$HEALTH_TIMEOUT'"
case "$HEALTH_GATE" in auto | ready | live) ;; *) die 1 "--health-gate must be ready, live or auto" ;; esac
require_root
require_systemd
take_lock

CURRENT=$(release_of "$PREFIX/current")
PREVIOUS=$(release_of "$PREFIX/previous")
[ -n "$CURRENT" ] || die 1 "camsvc is not installed under $PREFIX (no $PREFIX/current)"
[ -n "$PREVIOUS" ] && [ -f "$PREVIOUS/.complete" ] ||
    die 1 "no previous release to roll back to under $PREFIX (installed: $(basename "$CURRENT"))"
[ "$PREVIOUS" != "$CURRENT" ] || die 1 "the previous release is the current one ($(basename "$CURRENT")); nothing to do"
FROM=$(basename "$CURRENT")
TO=$(basename "$PREVIOUS")

if ! CHECK_OUT=$("$PREVIOUS/venv/bin/camsvc" check-config "$CONFIG_PATH" 2>&1); then
    printf '%s\n' "$CHECK_OUT" | sed 's/^/  /' >&2
    die 2 "$CONFIG_PATH is not valid for camsvc $TO (see above); nothing was switched, $FROM keeps running. Restore an older backup ($CONFIG_PATH.bak-*) first."
fi
load_facts "$PREVIOUS" "$CONFIG_PATH"
GATE=$HEALTH_GATE
if [ "$GATE" = auto ]; then
    if systemctl cat "$MEDIAMTX_UNIT" >/dev/null 2>&1; then GATE=ready; else GATE=live; fi
fi
HEALTH_URL="http://$(probe_host "$HTTP_HOST"):$HTTP_PORT/health/$GATE"

say "rolling back camsvc $FROM -> $TO"
switch_link "$PREFIX" current "$PREVIOUS"
switch_link "$PREFIX" previous "$CURRENT"
systemctl reset-failed "$SERVICE_UNIT" 2>/dev/null || true
if systemctl restart "$SERVICE_UNIT" && wait_health "$PREVIOUS" "$HEALTH_URL" "$HEALTH_TIMEOUT"; then
    say "rolled back to camsvc $TO in $(elapsed) s (roll forward again with: $0)"
    exit 0
fi
show_service_log
switch_link "$PREFIX" current "$CURRENT"
switch_link "$PREFIX" previous "$PREVIOUS"
systemctl restart "$SERVICE_UNIT" || true
if wait_health "$CURRENT" "$HEALTH_URL" "$HEALTH_TIMEOUT" >/dev/null; then
    die 4 "camsvc $TO was not healthy ($HEALTH_URL); switched forward again, $FROM is running (after $(elapsed) s)"
fi
die 4 "camsvc $TO was not healthy ($HEALTH_URL); switched forward again to $FROM, which is not healthy either: see journalctl --namespace=camera-service -u $SERVICE_UNIT"
