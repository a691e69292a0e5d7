#!/usr/bin/env bash
# One-step set-up for a fresh Debian/Ubuntu box, then run the demo or the tests.
#
#   tools/setup.sh run    install what is missing, then run the service in demo mode
#                         (a real MediaMTX supervised by camsvc: MEDIAMTX=/path/to/mediamtx, else
#                          mediamtx from PATH; else the bundled emulator; a synthetic camera0 when
#                          there is no /dev/video0)
#   tools/setup.sh test   install what is missing, then run the whole test suite (against the
#                         emulator, and also the real MediaMTX at ../shared/bin/mediamtx if present)
#   tools/setup.sh        install only
#
# Idempotent: system packages are installed only when missing, the venv is reused.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ -z "${MEDIAMTX:-}" ] || MEDIAMTX=$(realpath -m -- "$MEDIAMTX")  # relative to where it was given
cd "$here"
venv="$here/.venv"

# System packages the service and its tests use (Debian names).
#  ffmpeg: capture, snapshots, and the emulator's publishers and recorder;
#  python3-venv: the venv; systemd-container + debootstrap: the systemd deployment test;
#  shellcheck: the tests lint the shipped shell scripts with it;
#  chromium: the web console's browser tests (driven by playwright; no browser is ever downloaded).
apt_packages=(ffmpeg python3 python3-venv systemd-container debootstrap curl shellcheck chromium)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

install_system_packages() {
    local missing=()
    for p in "${apt_packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "setup: installing system packages: ${missing[*]}"
        "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
    fi
}

pick_python() {
    for py in python3.13 python3.12 python3.11 python3; do
        if command -v "$py" >/dev/null && "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
            echo "$py"; return
        fi
    done
    echo "setup: Python 3.11 or newer is required" >&2
    exit 1
}

install_python_env() {
    if [ ! -x "$venv/bin/python" ]; then
        "$(pick_python)" -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -e ".[test]"
}

run_demo() {
    mkdir -p var
    local pids=()
    trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT INT TERM
    export CAMSVC_CONFIG="$here/conf/demo.yaml"
    local mediamtx=${MEDIAMTX:-$(command -v mediamtx || true)}
    if [ -n "$mediamtx" ]; then
        [ -f "$mediamtx" ] && [ -x "$mediamtx" ] || { echo "setup: MEDIAMTX=$mediamtx is not an executable file" >&2; exit 1; }
        echo "setup: using the real MediaMTX $mediamtx ($("$mediamtx" --version 2>&1 | head -n 1)), supervised by camsvc"
        export CAMSVC_MEDIAMTX__BINARY="$mediamtx" CAMSVC_MEDIAMTX__CONFIG_FILE="$here/conf/mediamtx.yml"
    else
        echo "setup: no MediaMTX (set MEDIAMTX=/path/to/mediamtx or put it on PATH); starting the MediaMTX emulator on 127.0.0.1:9997"
        "$venv/bin/python" -m tools.mediamtx_emulator --api 127.0.0.1:9997 --rtsp-port 8554 &
        pids+=($!)
    fi
    local http_port=${CAMSVC_HTTP__PORT:-8003} ws_port=${CAMSVC_SERVER__PORT:-8002}
    echo "setup: camsvc: ws://localhost:$ws_port/ws  http://localhost:$http_port/health/system"
    "$venv/bin/camsvc" run --demo --log-format console &
    pids+=($!)
    announce_when_ready "${pids[-1]}" "$http_port"
    wait "${pids[-1]}"
}

# Once /health/ready answers 200: the console link with an admin token, and a first `camsvc ctl`.
announce_when_ready() {
    local pid=$1 port=$2 deadline=$((SECONDS + 60)) token
    until curl -fsS -o /dev/null "http://localhost:$port/health/ready" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then return; fi  # it exited: its own message says why
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "setup: camsvc is not ready after 60 s; see curl localhost:$port/health/system" >&2
            return
        fi
        sleep 0.5
    done
    # the same config (conf/demo.yaml, via CAMSVC_CONFIG) and so the same secret as the service
    token=$("$venv/bin/camsvc" token create --role admin --user console)
    cat <<EOF

setup: camsvc is ready.
  Web console (admin, valid 24 h):  http://localhost:$port/#token=$token
  Command line, from this checkout:
    export CAMSVC_TOKEN=\$(.venv/bin/camsvc token create --role operator)
    .venv/bin/camsvc ctl cameras

EOF
}

install_system_packages
install_python_env

case "${1:-}" in
    run) run_demo ;;
    test)
        shift
        # The gates first: lint and strict types fail fast, before the suite's minutes.
        "$venv/bin/ruff" check .
        "$venv/bin/mypy" --strict camsvc supervisor
        # Tests that talk to MediaMTX run against the emulator and, given a binary, the real server.
        if [ -z "${CAMSVC_TEST_MEDIAMTX:-}" ] && [ -f "$here/../shared/bin/mediamtx" ]; then
            export CAMSVC_TEST_MEDIAMTX="$here/../shared/bin/mediamtx"
        fi
        exec "$venv/bin/python" -m pytest -q "$@" ;;
    "") echo "setup: done. Run the demo: tools/setup.sh run   Run the tests: tools/setup.sh test" ;;
    *) echo "usage: tools/setup.sh [run|test]" >&2; exit 2 ;;
esac
