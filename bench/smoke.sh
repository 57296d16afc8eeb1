#!/usr/bin/env bash
# 2-second smoke run of chat-bench, so the load tool cannot rot (issue 6).
#
# Starts a memory-backed chat-server on a free loopback port, runs
#   chat-bench --addr ADDR --duration 2s --warmup 500ms --connections 4 --workload inbox --json
# against it, checks that the JSON reports more than 0 ops and 0 errors, and stops the
# server. Exits non-zero otherwise. Not a benchmark: the numbers are not looked at.
#
# Usage: bash bench/smoke.sh          (builds debug binaries; PROFILE=release for release)
# Respects CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${PROFILE:-debug}
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
cargo_flags=(--quiet -p chat-server -p chat-bench)
[ "$PROFILE" = release ] && cargo_flags+=(--release)
echo "== smoke: building chat-server and chat-bench ($PROFILE)"
cargo build "${cargo_flags[@]}"
SERVER=$TARGET/$PROFILE/chat-server
BENCH=$TARGET/$PROFILE/chat-bench

tmp=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# A closed loop exceeds any per-connection request rate by design: switch it off when
# the server has that limit.
server_flags=(--listen 127.0.0.1:0 --db memory)
if "$SERVER" --help 2>/dev/null | grep -q -- '--max-request-rate'; then
  server_flags+=(--max-request-rate 0)
fi
"$SERVER" "${server_flags[@]}" >"$tmp/server.out" 2>"$tmp/server.err" &
server_pid=$!

addr=""
for _ in $(seq 1 100); do
  if line=$(grep -m1 '^listening on ' "$tmp/server.out" 2>/dev/null); then
    addr=${line#listening on }
    break
  fi
  if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
  sleep 0.1
done
if [ -z "$addr" ]; then
  echo "smoke: chat-server did not start; its stderr:" >&2
  cat "$tmp/server.err" >&2
  exit 1
fi

cmd=("$BENCH" --addr "$addr" --duration 2s --warmup 500ms --connections 4 --workload inbox --json)
echo "== smoke: ${cmd[*]#"$TARGET/$PROFILE/"}"
if ! timeout 60 "${cmd[@]}" >"$tmp/result.json"; then
  echo "smoke: chat-bench failed" >&2
  exit 1
fi
cat "$tmp/result.json"

# ops > 0 and errors.total == 0, read from the JSON (python3, else jq, else a regex).
if command -v python3 >/dev/null 2>&1; then
  check='import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r["ops"] > 0 and r["errors"]["total"] == 0 else 1)'
  python3 -c "$check" "$tmp/result.json" || { echo "smoke: expected ops > 0 and 0 errors" >&2; exit 1; }
elif command -v jq >/dev/null 2>&1; then
  jq -e '.ops > 0 and .errors.total == 0' "$tmp/result.json" >/dev/null || { echo "smoke: expected ops > 0 and 0 errors" >&2; exit 1; }
else
  grep -Eq '"ops":[1-9]' "$tmp/result.json" && grep -q '"errors":{"total":0,' "$tmp/result.json" \
    || { echo "smoke: expected ops > 0 and 0 errors" >&2; exit 1; }
fi
echo "smoke: OK"
