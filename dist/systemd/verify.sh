#!/usr/bin/env bash
# Checks dist/systemd/chat-server.service with `systemd-analyze verify`, against the
# chat-server built in target/ (BIN overrides) and the manual pages in dist/man.
# Used by .ci/run; skipped with a notice where systemd-analyze is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "systemd-analyze not found: not checking the systemd unit"
  exit 0
fi
bin=${BIN:-$PWD/target/debug/chat-server}
[ -x "$bin" ] || cargo build --quiet --bin chat-server
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The unit names /usr/local/bin/chat-server; verify checks that it exists.
sed "s|/usr/local/bin/chat-server|$bin|" dist/systemd/chat-server.service >"$tmp/chat-server.service"
man_check=(--man=no)
if command -v man >/dev/null 2>&1; then
  mkdir -p "$tmp/man/man1"
  cp dist/man/*.1 "$tmp/man/man1/"
  export MANPATH="$tmp/man"
  man_check=()
fi
# verify only warns about unknown keys and bad values: any line about the unit fails.
status=0
out=$(systemd-analyze verify "${man_check[@]}" "$tmp/chat-server.service" 2>&1) || status=$?
if [ "$status" -ne 0 ] || grep -q "chat-server.service" <<<"$out"; then
  echo "$out"
  echo "systemd-analyze verify: dist/systemd/chat-server.service has problems (above)"
  exit 1
fi
echo "systemd unit OK"
