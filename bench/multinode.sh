#!/usr/bin/env bash
# Multi-node section of the benchmarks (issue 19): 1, 2 and 3 chat-server nodes on one
# PostgreSQL, side by side with one node on SQLite, in the same run, each put through
# the sustained sequence of the issue at 50 connections in all:
#
#   inbox  (the demo accounts poll their empty inboxes)          $DURATION
#   send   (three other accounts send to each other: durable)     $DURATION
#   inbox2 (the demo accounts again, on the now bigger table)     $DURATION
#
# With N nodes the 50 connections are split over them (one chat-bench per node, run
# at the same time; ops/s are summed, latency is the slowest node's p99). CPU per
# request is measured from /proc ticks over each run, separately for the chat-server
# processes and for PostgreSQL's backends serving them (the pids in pg_stat_activity
# with this run's application_name; PostgreSQL's shared background processes, the WAL
# writer and checkpointer, are not included).
#
# Usage: bash bench/multinode.sh        (also run by bench/run.sh)
# Environment: NODES ("1 2 3"), DURATION (5s), WARMUP (1s), CONNS (50), SERVER and
#   BENCH (binaries; default target/release), PG_URL (postgres://postgres@127.0.0.1:5432/test).
# Prints one markdown table on stdout; progress lines (`==`) on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
SERVER=${SERVER:-$TARGET/release/chat-server}
BENCH=${BENCH:-$TARGET/release/chat-bench}
NODES=${NODES:-"1 2 3"}
DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-1s}
CONNS=${CONNS:-50}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/chat-multinode.XXXXXX")
PIDS=()
SCHEMAS=()
HZ=$(getconf CLK_TCK)

log() { printf '== %s\n' "$*" >&2; }
psql_q() { psql "$PG_URL" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }

stop_nodes() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  PIDS=()
}
cleanup() {
  stop_nodes
  for s in "${SCHEMAS[@]}"; do psql_q "DROP SCHEMA IF EXISTS $s CASCADE" >/dev/null 2>&1 || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! psql_q "SELECT 1" >/dev/null 2>&1; then
  log "PostgreSQL not reachable at $PG_URL: multi-node section skipped"
  exit 0
fi

printf 'alice bench-password Alice\nbob bench-password Bob\ncarol bench-password Carol\n' >"$TMP/others"

# start_node DB NAME [FLAG...]: one chat-server; appends its pid to PIDS and its
# address to ADDRS.
start_node() {
  local db=$1 name=$2
  shift 2
  "$SERVER" --listen 127.0.0.1:0 --db "$db" --max-request-rate 0 --max-inbox 0 "$@" \
    >"$TMP/$name.out" 2>"$TMP/$name.err" &
  PIDS+=($!)
  for _ in $(seq 1 300); do
    if line=$(grep -m1 '^listening on ' "$TMP/$name.out" 2>/dev/null); then
      ADDRS+=("${line#listening on }")
      return 0
    fi
    sleep 0.1
  done
  log "node $name did not start: $(tail -n 3 "$TMP/$name.err")"
  exit 1
}

# ticks PID...: utime + stime of the processes, in clock ticks (gone ones count 0).
ticks() {
  local sum=0 pid
  for pid in "$@"; do
    if [ -r "/proc/$pid/stat" ]; then
      sum=$((sum + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    fi
  done
  echo "$sum"
}

# run_phase LABEL APP WORKLOAD [FLAG...]: one chat-bench per node at once, CONNS split
# over them; prints a table row.
run_phase() {
  local label=$1 app=$2 workload=$3
  shift 3
  local n=${#ADDRS[@]} per=$((CONNS / ${#ADDRS[@]})) i
  local pg_pids=()
  if [ -n "$app" ]; then
    mapfile -t pg_pids < <(psql_q "SELECT pid FROM pg_stat_activity WHERE application_name = '$app'")
  fi
  local node0 pg0 t0 t1
  node0=$(ticks "${PIDS[@]}")
  pg0=$(ticks "${pg_pids[@]}")
  t0=$(date +%s%N)
  local jobs=()
  for i in $(seq 0 $((n - 1))); do
    "$BENCH" --addr "${ADDRS[$i]}" -w "$workload" -c "$per" --duration "$DURATION" --warmup "$WARMUP" \
      --json "$@" >"$TMP/run-$i.json" 2>"$TMP/run-$i.err" &
    jobs+=($!)
  done
  for j in "${jobs[@]}"; do wait "$j" || true; done
  t1=$(date +%s%N)
  local node1 pg1
  node1=$(ticks "${PIDS[@]}")
  if [ -n "$app" ]; then
    mapfile -t pg_pids < <(psql_q "SELECT pid FROM pg_stat_activity WHERE application_name = '$app'")
  fi
  pg1=$(ticks "${pg_pids[@]}")
  python3 - "$label" "$workload" "$HZ" "$((node1 - node0))" "$((pg1 - pg0))" "$t0" "$t1" "$TMP"/run-*.json <<'EOF'
import json, sys
label, workload, hz, node_t, pg_t, t0, t1 = sys.argv[1:8]
runs = [json.load(open(p)) for p in sys.argv[8:]]
def get(r, *keys):
    for k in keys:
        r = r.get(k, {}) if isinstance(r, dict) else {}
    return r
ops = sum(float(r.get("ops_per_s") or 0) for r in runs)
errors = sum(int(get(r, "errors", "total") or 0) for r in runs)
p99 = max(float(get(r, "latency", "p99_us") or 0) for r in runs) / 1000
hz = int(hz)
# CPU over the whole phase (warm-up included) divided by the requests counted in the
# measured part scaled to the phase: requests/s x phase seconds.
secs = (int(t1) - int(t0)) / 1e9
reqs = max(ops * secs, 1)
node_us = int(node_t) / hz * 1e6 / reqs
pg_us = int(pg_t) / hz * 1e6 / reqs
ops_s = f"{ops:,.0f}".replace(",", " ")
print(f"| {label} | {workload} | {ops_s} | {p99:.3f} | {errors} | {node_us:.1f} | {pg_us:.1f} |")
EOF
  rm -f "$TMP"/run-*.json
}

# sequence DB_LABEL APP: the three phases against the nodes in ADDRS.
sequence() {
  local label=$1 app=$2
  run_phase "$label" "$app" inbox
  run_phase "$label" "$app" send --user-file "$TMP/others"
  run_phase "$label, after the sends" "$app" inbox
}

echo "| store | run | ops/s | p99 ms (slowest node) | errors | node CPU µs/op | PostgreSQL CPU µs/op |"
echo "|---|---|---:|---:|---:|---:|---:|"

ADDRS=()
start_node "sqlite://$TMP/sqlite.db" sqlite --users "$TMP/others"
log "SQLite node on ${ADDRS[*]}"
sequence "SQLite, 1 node" ""
stop_nodes

for n in $NODES; do
  schema="chat_bench_$(date +%s)_$RANDOM$RANDOM"
  SCHEMAS+=("$schema")
  psql_q "CREATE SCHEMA $schema"
  app="chat-bench-$schema"
  url="$PG_URL?options=-c%20search_path%3D$schema&application_name=$app"
  ADDRS=()
  start_node "$url" pg-$n-1 --users "$TMP/others"
  for i in $(seq 2 "$n"); do start_node "$url" "pg-$n-$i"; done
  log "$n PostgreSQL node(s) on ${ADDRS[*]} (schema $schema)"
  sequence "PostgreSQL, $n node(s)" "$app"
  stop_nodes
  psql_q "DROP SCHEMA $schema CASCADE" 2>/dev/null
done
