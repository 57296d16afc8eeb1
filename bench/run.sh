#!/usr/bin/env bash
# Reruns the whole comparison of issue 6 in one go: chat-server against redis-server,
# measured by the same tool (chat-bench) in the same run, loopback only, bounded in time.
#
#   1. redis-server PING at 50 connections (the ceiling for a request/response server)
#   2. chat-server ping, inbox at 50 connections
#   3. cost vs connections: inbox (and redis PING) at 1, 10, 50, 500, 5000
#   4. durable send at 50 connections (fresh server)
#   5. 19000 idle logged-in connections: server RSS before/after, one simultaneous inbox
#   6. 10000 simulated TUI clients (mix: poll every 1 s, send every 10 s)
#
# Every chat run gets a chat-server started for it on a free port with a fresh SQLite
# database in a temporary directory (falls back to --db memory, and says so, when the
# server cannot open SQLite). redis-server runs with persistence off. Both are stopped
# at the end. Results: a markdown table on stdout, JSON in $OUT.
#
# Usage: bash bench/run.sh
# Environment: DURATION (10s), WARMUP (1s), OUT (bench/results.json), IDLE_N (19000),
#   MIX_N (10000), CURVE ("1 10 50 500 5000"), REDIS_CURVE (1: also redis at each point),
#   TOTAL_TIMEOUT (seconds for the whole script, 1500), CARGO_TARGET_DIR.
set -euo pipefail

if [ -z "${CHAT_BENCH_BOUNDED:-}" ]; then
  export CHAT_BENCH_BOUNDED=1
  exec timeout --kill-after=15 "${TOTAL_TIMEOUT:-1500}" bash "$0" "$@"
fi

cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-1s}
OUT=${OUT:-$ROOT/bench/results.json}
IDLE_N=${IDLE_N:-19000}
MIX_N=${MIX_N:-10000}
CURVE=${CURVE:-"1 10 50 500 5000"}
REDIS_CURVE=${REDIS_CURVE:-1}
RUN_TIMEOUT=180 # seconds for any one chat-bench run (connect + warm-up + duration)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/chat-bench-run.XXXXXX")
RESULTS=$TMP/results.jsonl
: >"$RESULTS"
REDIS_PID=""
CHAT_PID=""
STORE_NOTE=""

cleanup() {
  stop_chat
  if [ -n "$REDIS_PID" ]; then
    kill "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '== %s\n' "$*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---------------------------------------------------------------- build
log "building release binaries (chat-server, chat-bench)"
cargo build --release --quiet -p chat-server -p chat-bench
SERVER=$TARGET/release/chat-server
BENCH=$TARGET/release/chat-bench

# ---------------------------------------------------------------- redis-server
if ! command -v redis-server >/dev/null 2>&1; then
  log "installing redis-server"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi
REDIS_PORT=$(free_port)
# Protected mode off: it refuses any client but 127.0.0.1, and chat-bench spreads large
# connection counts over 127.0.0.2, .3, ...; --bind keeps it on loopback anyway.
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --protected-mode no --save "" --appendonly no \
  --daemonize no --logfile "$TMP/redis.log" --dir "$TMP" --maxclients 10000 &
REDIS_PID=$!
for _ in $(seq 1 50); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null; then break; fi
  sleep 0.1
done
REDIS_ADDR=127.0.0.1:$REDIS_PORT
log "redis-server $(redis-server --version | grep -o 'v=[^ ]*') on $REDIS_ADDR (pid $REDIS_PID)"

# ---------------------------------------------------------------- chat-server
# Flags that a closed-loop benchmark needs: no per-connection request rate limit
# (a closed loop exceeds any such limit by design).
SERVER_FLAGS=()
if "$SERVER" --help 2>/dev/null | grep -q -- '--max-request-rate'; then
  SERVER_FLAGS+=(--max-request-rate 0)
fi
CHAT_N=0

# start_chat [FLAG...]: a fresh chat-server on a free port with a fresh database, with
# extra FLAGs for this run; sets CHAT_ADDR, CHAT_PID. RUN_ENV: extra environment.
RUN_ENV=()
start_chat() {
  RUN_FLAGS=("$@")
  CHAT_N=$((CHAT_N + 1))
  local dir=$TMP/chat-$CHAT_N db
  mkdir -p "$dir"
  if [ "$STORE_NOTE" = memory ]; then db=memory; else db=sqlite://$dir/chat.db; fi
  if ! try_start_chat "$db" "$dir" && [ "$db" != memory ]; then
    log "chat-server cannot open $db ($(tail -n1 "$dir/server.err")); falling back to --db memory"
    STORE_NOTE=memory
    db=memory
    try_start_chat "$db" "$dir" || { cat "$dir/server.err" >&2; exit 1; }
  fi
  [ "$STORE_NOTE" = memory ] || STORE_NOTE=sqlite
  CHAT_DB=$db
  log "${RUN_ENV[*]:+${RUN_ENV[*]} }chat-server --db $db ${SERVER_FLAGS[*]} ${RUN_FLAGS[*]:+${RUN_FLAGS[*]} }on $CHAT_ADDR (pid $CHAT_PID)"
}

try_start_chat() {
  local db=$1 dir=$2 line
  env "${RUN_ENV[@]}" "$SERVER" --listen 127.0.0.1:0 --db "$db" "${SERVER_FLAGS[@]}" "${RUN_FLAGS[@]}" \
    >"$dir/server.out" 2>"$dir/server.err" &
  CHAT_PID=$!
  for _ in $(seq 1 150); do
    if line=$(grep -m1 '^listening on ' "$dir/server.out" 2>/dev/null); then
      CHAT_ADDR=${line#listening on }
      return 0
    fi
    if ! kill -0 "$CHAT_PID" 2>/dev/null; then
      wait "$CHAT_PID" 2>/dev/null || true
      CHAT_PID=""
      return 1
    fi
    sleep 0.1
  done
  stop_chat
  return 1
}

stop_chat() {
  if [ -n "$CHAT_PID" ]; then
    kill "$CHAT_PID" 2>/dev/null || true
    wait "$CHAT_PID" 2>/dev/null || true
    CHAT_PID=""
  fi
}

# bench LABEL ARGS...: one chat-bench run; its JSON report goes to $RESULTS.
bench() {
  local label=$1 out
  shift
  log "$label: chat-bench $*"
  if out=$(timeout "$RUN_TIMEOUT" "$BENCH" --json --label "$label" "$@" 2>"$TMP/bench.err"); then
    echo "$out" >>"$RESULTS"
  else
    log "$label FAILED: $(tail -n3 "$TMP/bench.err")"
    python3 -c 'import json,sys; print(json.dumps({"label": sys.argv[1], "failed": sys.argv[2]}))' \
      "$label" "$(tail -n3 "$TMP/bench.err")" >>"$RESULTS"
  fi
}

TIMING=(--duration "$DURATION" --warmup "$WARMUP")

# ---------------------------------------------------------------- runs
bench "redis PING @50" --addr "$REDIS_ADDR" --raw 'PING\r\n' --terminator '\r\n' --error-prefix - -c 50 "${TIMING[@]}"

start_chat
bench "chat ping @50" --addr "$CHAT_ADDR" -w ping -c 50 "${TIMING[@]}"
bench "chat inbox @50" --addr "$CHAT_ADDR" -w inbox -c 50 "${TIMING[@]}"
for n in $CURVE; do
  [ "$n" = 50 ] && continue
  bench "chat inbox @$n" --addr "$CHAT_ADDR" -w inbox -c "$n" "${TIMING[@]}"
done
stop_chat
if [ "$REDIS_CURVE" = 1 ]; then
  for n in $CURVE; do
    [ "$n" = 50 ] && continue
    bench "redis PING @$n" --addr "$REDIS_ADDR" --raw 'PING\r\n' --terminator '\r\n' --error-prefix - -c "$n" "${TIMING[@]}"
  done
fi

# No inbox limit: nobody drains during a send run, and the default limit (10 000
# undelivered per recipient) would turn it into a run of "recipient inbox full".
start_chat --max-inbox 0
bench "chat send @50" --addr "$CHAT_ADDR" -w send -c 50 "${TIMING[@]}"
stop_chat

# mimalloc returns freed memory to the OS only after a delay: without this, the RSS
# read before the connections open still holds the freed argon2 memory of the
# logins (19 MiB each), which the connections then reuse, and the growth per
# connection comes out too low.
RUN_ENV=(MIMALLOC_PURGE_DELAY=0)
start_chat
RUN_ENV=()
bench "chat idle @$IDLE_N" --addr "$CHAT_ADDR" --idle "$IDLE_N" --burst --burst-deadline 2s \
  --server-pid "$CHAT_PID" --duration 5s
stop_chat

start_chat
bench "chat mix @$MIX_N" --addr "$CHAT_ADDR" -w mix -c "$MIX_N" --poll-interval 1s --send-every 10s \
  --duration "$DURATION" --warmup 2s
stop_chat

# ---------------------------------------------------------------- report
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
MEM=$(free -h | awk '/^Mem:/ {print $2}')
export CPU MEM STORE_NOTE
export NPROC=$(nproc)
export KERNEL=$(uname -r)
export REDIS_VERSION=$(redis-server --version | grep -o 'v=[^ ]*' | cut -d= -f2)
export GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
python3 - "$RESULTS" "$OUT" <<'PY'
import datetime, json, os, sys

runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
doc = {
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    "machine": {
        "cpu": os.environ["CPU"], "nproc": int(os.environ["NPROC"]), "memory": os.environ["MEM"],
        "kernel": os.environ["KERNEL"], "redis": os.environ["REDIS_VERSION"],
    },
    "git": os.environ["GIT_REV"],
    "chat_store": os.environ["STORE_NOTE"],
    "runs": runs,
}
with open(sys.argv[2], "w") as f:
    json.dump(doc, f, indent=1)
    f.write("\n")

def ms(us):
    return "-" if us is None else f"{us / 1000:.3f}"

def lat(r, key):
    l = r.get("latency") or {}
    return ms(l.get(key))

by = {r["label"]: r for r in runs}
m = doc["machine"]
print(f"\n{doc['date']}, {m['cpu']}, {m['nproc']} CPUs, {m['memory']} RAM, "
      f"Linux {m['kernel']}, redis {m['redis']}, chat-server {doc['git']} (--db {doc['chat_store']}); "
      "tool and servers share the CPUs.\n")
print("| run | conns | ops/s | p50 ms | p99 ms | p99.9 ms | max ms | errors | notes |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
for r in runs:
    if "failed" in r:
        print(f"| {r['label']} | | | | | | | | FAILED: {r['failed']} |")
        continue
    note = ""
    if r.get("idle"):
        i = r["idle"]
        b = i.get("burst") or {}
        per = i.get("server_bytes_per_connection")
        note = (f"{i['established']}/{i['requested']} held; server RSS {i.get('server_rss_before_kib')} -> "
                f"{i.get('server_rss_after_kib')} KiB ({per / 1024:.2f} KiB/conn); " if per is not None else
                f"{i['established']}/{i['requested']} held; ")
        note += f"burst: {b.get('answered')}/{b.get('sent')} answered, {b.get('within_deadline')} within {b.get('deadline_s')} s"
    elif r.get("mix"):
        x = r["mix"]
        note = f"{x['inbox']} inbox, {x['user_aktif']} user_aktif, {x['send']} send; {x['late_polls']} late polls"
    ops = "-" if r.get("idle") else f"{r['ops_per_s']:,.0f}"
    print(f"| {r['label']} | {r['connections']} | {ops} | {lat(r, 'p50_us')} | {lat(r, 'p99_us')} | "
          f"{lat(r, 'p999_us')} | {lat(r, 'max_us')} | {r['errors']['total']} | {note} |")

redis = by.get("redis PING @50")
if redis and "failed" not in redis and redis["ops_per_s"] > 0:
    print()
    for label, target in (("chat inbox @50", 0.8), ("chat send @50", 0.5), ("chat ping @50", None)):
        r = by.get(label)
        if r and "failed" not in r:
            ratio = r["ops_per_s"] / redis["ops_per_s"]
            goal = f" (target >= {target:.0%}: {'met' if ratio >= target else 'NOT met'})" if target else ""
            print(f"- {label}: {ratio:.0%} of redis PING @50{goal}")
print(f"\nJSON: {sys.argv[2]}")
PY
