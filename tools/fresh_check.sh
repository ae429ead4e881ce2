#!/usr/bin/env bash
# The fresh-machine check (`make fresh-check`): clone the COMMITTED repository (uncommitted files do
# not count: that is the point) into an empty temporary folder, with ../shared beside it as in CI,
# and run there only what the README tells a newcomer to run:
#   make test   (creates .venv from nothing, installs, runs every test and notebook in smoke mode)
#   make lab    (started until it answers HTTP on its port, then stopped)
# Usage: tools/fresh_check.sh [REV]     REV defaults to HEAD; KEEP=1 keeps the folder for inspection.
set -euo pipefail

repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
rev=$(git -C "$repo" rev-parse "${1:-HEAD}")
work=$(mktemp -d "${TMPDIR:-/tmp}/vae-fresh.XXXXXX")
lab_pid=""

cleanup() {
  if [ -n "$lab_pid" ] && kill -0 "$lab_pid" 2>/dev/null; then
    kill -TERM -- "-$lab_pid" 2>/dev/null || true   # make lab runs in its own process group
    sleep 3
    kill -KILL -- "-$lab_pid" 2>/dev/null || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then echo "fresh-check: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# A newcomer's shell: none of our variables, no make recursion flags.
unset VAELIB_DATA VAELIB_SMOKE MAKEFLAGS MAKELEVEL MFLAGS VIRTUAL_ENV

start=$(date +%s)
echo "fresh-check: cloning $rev into $work/main"
git clone --quiet --no-hardlinks "$repo" "$work/main"
git -C "$work/main" checkout --quiet --detach "$rev"
if [ -d "$repo/../shared" ]; then
  ln -s "$(cd "$repo/../shared" && pwd)" "$work/shared"   # the Makefile finds ../shared/data itself
fi
cd "$work/main"

echo "fresh-check: make test"
t0=$(date +%s)
make test
echo "fresh-check: make test passed in $(( $(date +%s) - t0 )) s"

echo "fresh-check: make lab"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
token=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
# JUPYTER_PORT/JUPYTER_TOKEN are read by Jupyter Server; BROWSER=true: nothing pops up here.
JUPYTER_PORT=$port JUPYTER_TOKEN=$token BROWSER=true setsid make lab > "$work/lab.log" 2>&1 &
lab_pid=$!
t0=$(date +%s)
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/status?token=$token")" = 200 ]; do
  if ! kill -0 "$lab_pid" 2>/dev/null || [ $(( $(date +%s) - t0 )) -gt 180 ]; then
    echo "fresh-check: make lab did not answer on port $port:"; tail -30 "$work/lab.log"; exit 1
  fi
  sleep 1
done
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/lab?token=$token")
[ "$code" = 200 ] || { echo "fresh-check: /lab answered HTTP $code"; exit 1; }
echo "fresh-check: make lab answered on 127.0.0.1:$port after $(( $(date +%s) - t0 )) s"

echo "fresh-check: PASSED in $(( $(date +%s) - start )) s (commit $rev)"
