#!/usr/bin/env bash
# Reruns the whole comparison of issue 6 in one go: chat-server against redis-server,
# measured by the same tool (chat-bench) in the same run, loopback only, bounded in time.
#
#   1. side by side, in ROUNDS rounds (5): redis-server PING, chat-server ping, inbox
#      and durable send, and redis-server SET with `appendfsync always` (redis's own
#      durable write), all at 50 connections, one after the other in each round; the
#      ratios are taken within each round and their median is what the targets are
#      checked against (this machine is a shared VM: redis alone moves by a third from
#      one minute to the next, so one run of each would measure the noise)
#   2. cost vs connections: inbox and redis PING at 1, 10, 50, 500, 5000
#   3. 19000 idle logged-in connections: server RSS before/after, one simultaneous inbox
#   4. 10000 simulated TUI clients (mix: poll every 1 s, send every 10 s)
#   5. delivery (issue 14): N sender/receiver pairs at a fixed rate, side by side on
#      chat-server (receivers waiting in `sync`, when the server has it, and polling
#      `inbox` every second as today's clients do), InspIRCd and ngIRCd (PRIVMSG; both
#      from Debian's packages, installed when missing, started with configs of our
#      own from bench/peers.sh); then one sender's fan-out to an IRC channel of K
#      members (issue 18; chat's side waits for groups and is skipped with a note)
#   6. multi-node: 1, 2, 3 nodes on one PostgreSQL beside an SQLite node (bench/multinode.sh;
#      MULTINODE=0 skips it)
#
# Every chat run group gets a chat-server started for it on a free port with a fresh
# SQLite database in a temporary directory (falls back to --db memory, and says so,
# when the server cannot open SQLite). Both redis-servers run on free ports, on
# loopback; the durable one keeps its append-only file in the same temporary
# directory (the same disk as chat-server's database). All are stopped at the end.
# Results: markdown tables on stdout, JSON in $OUT.
#
# Usage: bash bench/run.sh
# Environment: ROUNDS (5), ROUND_DURATION (5s), DURATION (10s, the other runs),
#   WARMUP (1s), OUT (bench/results.json), IDLE_N (19000), MIX_N (10000),
#   CURVE ("1 10 50 500 5000"), TOTAL_TIMEOUT (seconds for the whole script, 3000),
#   PROFILE (release; debug reuses the test build, for smoke runs), CHECK (1: exit 1
#   when any run failed, counted errors, lost or duplicated a message, or did no
#   work; the figures are never pass/fail), CARGO_TARGET_DIR.
#   Delivery: DELIVERY (0 skips the section; DELIVERY_ONLY=1 runs only it),
#   DELIVERY_PAIRS ("1000 9000") with DELIVERY_RATES ("0.5 0.1", messages/s per
#   sender, one per pair count), DELIVERY_DURATION (30s), DELIVERY_WARMUP (5s),
#   DELIVERY_DRAIN (5s), FANOUT_MEMBERS ("199 999"), FANOUT_RATE (5),
#   DELIVERY_SERVERS ("chat inspircd ngircd": which servers to load). With
#   PROFILE=debug (smoke runs) they default to 2 pairs at 5/s and 3 members, for 1 s.
set -euo pipefail

if [ -z "${CHAT_BENCH_BOUNDED:-}" ]; then
  export CHAT_BENCH_BOUNDED=1
  exec timeout --kill-after=15 "${TOTAL_TIMEOUT:-3000}" bash "$0" "$@"
fi

cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
ROUNDS=${ROUNDS:-5}
ROUND_DURATION=${ROUND_DURATION:-5s}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-1s}
OUT=${OUT:-$ROOT/bench/results.json}
IDLE_N=${IDLE_N:-19000}
MIX_N=${MIX_N:-10000}
CURVE=${CURVE:-"1 10 50 500 5000"}
RUN_TIMEOUT=180 # seconds for any one chat-bench run (connect + warm-up + duration)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/chat-bench-run.XXXXXX")
RESULTS=$TMP/results.jsonl
: >"$RESULTS"
REDIS_PID=""
AOF_PID=""
CHAT_PID=""
STORE_NOTE=""
PEER_PIDS=""

# stop_pid PID: TERM, up to 10 s to exit, then KILL (a server busy closing thousands
# of connections may not look at its signals for a while).
stop_pid() {
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

cleanup() {
  stop_chat
  for pid in $REDIS_PID $AOF_PID $PEER_PIDS; do
    stop_pid "$pid"
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '== %s\n' "$*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---------------------------------------------------------------- build
PROFILE=${PROFILE:-release}
log "building $PROFILE binaries (chat-server, chat-bench)"
build_flags=(--quiet -p chat-server -p chat-bench)
[ "$PROFILE" = release ] && build_flags+=(--release)
cargo build "${build_flags[@]}"
SERVER=$TARGET/$PROFILE/chat-server
BENCH=$TARGET/$PROFILE/chat-bench

# DELIVERY_ONLY=1 runs only the delivery section (no redis, sections 1-4).
if [ "${DELIVERY_ONLY:-0}" != 1 ]; then
# ---------------------------------------------------------------- redis-server
if ! command -v redis-server >/dev/null 2>&1; then
  log "installing redis-server"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi
# start_redis PORT NAME [FLAG...]: a redis-server on loopback, waited for; sets STARTED_PID.
start_redis() {
  local port=$1 name=$2
  shift 2
  mkdir -p "$TMP/$name"
  # Protected mode off: it refuses any client but 127.0.0.1, and chat-bench spreads large
  # connection counts over 127.0.0.2, .3, ...; --bind keeps it on loopback anyway.
  redis-server --port "$port" --bind 127.0.0.1 --protected-mode no --save "" \
    --daemonize no --logfile "$TMP/$name.log" --dir "$TMP/$name" --maxclients 10000 "$@" \
    >/dev/null 2>&1 &
  STARTED_PID=$!
  for _ in $(seq 1 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "redis-server did not start on port $port: $(tail -n 3 "$TMP/$name.log" 2>/dev/null)"
  exit 1
}

REDIS_PORT=$(free_port)
start_redis "$REDIS_PORT" redis --appendonly no
REDIS_PID=$STARTED_PID
REDIS_ADDR=127.0.0.1:$REDIS_PORT
log "redis-server $(redis-server --version | grep -o 'v=[^ ]*') on $REDIS_ADDR (pid $REDIS_PID), persistence off"
# Redis's own durable write: every SET is in the append-only file, fsync'd, before
# its reply (appendfsync always); no background rewrite during the runs.
AOF_PORT=$(free_port)
start_redis "$AOF_PORT" redis-aof --appendonly yes --appendfsync always \
  --auto-aof-rewrite-percentage 0
AOF_PID=$STARTED_PID
AOF_ADDR=127.0.0.1:$AOF_PORT
log "redis-server on $AOF_ADDR (pid $AOF_PID), appendonly yes, appendfsync always, in $TMP/redis-aof"
fi

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
ROUND_TIMING=(--duration "$ROUND_DURATION" --warmup "$WARMUP")
PING=(--raw 'PING\r\n' --terminator '\r\n' --error-prefix -)

if [ "${DELIVERY_ONLY:-0}" != 1 ]; then
# ---------------------------------------------------------------- runs
# 1. Side by side. Each round has a fresh chat-server; `--max-inbox 0` because nobody
# drains during the send run, and the default limit (10 000 undelivered per
# recipient) would turn it into a run of "recipient inbox full".
for round in $(seq 1 "$ROUNDS"); do
  bench "round $round: redis PING @50" --addr "$REDIS_ADDR" "${PING[@]}" -c 50 "${ROUND_TIMING[@]}"
  start_chat --max-inbox 0
  bench "round $round: chat ping @50" --addr "$CHAT_ADDR" -w ping -c 50 "${ROUND_TIMING[@]}"
  bench "round $round: chat inbox @50" --addr "$CHAT_ADDR" -w inbox -c 50 "${ROUND_TIMING[@]}"
  bench "round $round: chat send @50" --addr "$CHAT_ADDR" -w send -c 50 "${ROUND_TIMING[@]}"
  stop_chat
  bench "round $round: redis SET, appendfsync always @50" --addr "$AOF_ADDR" \
    --raw 'SET chat-bench hello-from-chat-bench\r\n' --terminator '\r\n' --error-prefix - \
    -c 50 "${ROUND_TIMING[@]}"
done

# 2. Cost vs connections, chat and redis alternating at each point.
start_chat
for n in $CURVE; do
  bench "chat inbox @$n" --addr "$CHAT_ADDR" -w inbox -c "$n" "${TIMING[@]}"
  bench "redis PING @$n" --addr "$REDIS_ADDR" "${PING[@]}" -c "$n" "${TIMING[@]}"
done
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
fi

# ---------------------------------------------------------------- delivery
# skipped LABEL REASON: a run that could not be made, recorded with why (not a failure).
skipped() {
  log "$1 SKIPPED: $2"
  python3 -c 'import json,sys; print(json.dumps({"label": sys.argv[1], "skipped": sys.argv[2]}))' \
    "$1" "$2" >>"$RESULTS"
}

if [ "${DELIVERY:-1}" != 0 ]; then
  if [ "$PROFILE" = debug ]; then
    small=1
  else
    small=0
  fi
  DELIVERY_PAIRS=${DELIVERY_PAIRS:-$([ $small = 1 ] && echo 2 || echo "1000 9000")}
  DELIVERY_RATES=${DELIVERY_RATES:-$([ $small = 1 ] && echo 5 || echo "0.5 0.1")}
  DELIVERY_DURATION=${DELIVERY_DURATION:-$([ $small = 1 ] && echo 1s || echo 30s)}
  DELIVERY_WARMUP=${DELIVERY_WARMUP:-$([ $small = 1 ] && echo 200ms || echo 5s)}
  DELIVERY_DRAIN=${DELIVERY_DRAIN:-$([ $small = 1 ] && echo 1s || echo 5s)}
  FANOUT_MEMBERS=${FANOUT_MEMBERS-$([ $small = 1 ] && echo 3 || echo "199 999")}
  FANOUT_RATE=${FANOUT_RATE:-5}
  DELIVERY_SERVERS=${DELIVERY_SERVERS:-"chat inspircd ngircd"}
  wants() { [[ " $DELIVERY_SERVERS " == *" $1 "* ]]; }
  read -r -a pair_counts <<<"$DELIVERY_PAIRS"
  read -r -a pair_rates <<<"$DELIVERY_RATES"
  DTIMING=(--duration "$DELIVERY_DURATION" --warmup "$DELIVERY_WARMUP" --drain "$DELIVERY_DRAIN")
  # Registering and logging in thousands of accounts costs an argon2 hash each.
  DELIVERY_TIMEOUT=1800
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

  # shellcheck source=bench/peers.sh
  source "$ROOT/bench/peers.sh"
  PEERS=()
  if ! wants inspircd && ! wants ngircd; then
    :
  elif install_peers; then
    port=$(free_port)
    if wants inspircd && start_inspircd "$port" "$TMP/inspircd"; then
      PEER_PIDS="$PEER_PIDS $STARTED_PID"
      PEERS+=("inspircd 127.0.0.1:$port $STARTED_PID 256")
      log "InspIRCd $(inspircd --version 2>/dev/null | head -n1) on 127.0.0.1:$port (pid $STARTED_PID)"
    fi
    port=$(free_port)
    if wants ngircd && start_ngircd "$port" "$TMP/ngircd"; then
      PEER_PIDS="$PEER_PIDS $STARTED_PID"
      # ngIRCd listens with a backlog of 10 (hard-coded): more connection attempts in
      # flight overflow it, and the dropped ones retry after seconds.
      PEERS+=("ngircd 127.0.0.1:$port $STARTED_PID 8")
      log "$(ngircd --version 2>/dev/null | head -n1 | cut -d- -f1) on 127.0.0.1:$port (pid $STARTED_PID)"
    fi
  else
    log "could not install inspircd/ngircd: the IRC runs are skipped"
  fi
  # dbench LABEL ARGS...: bench with the delivery runs' longer time limit.
  dbench() {
    local RUN_TIMEOUT=$DELIVERY_TIMEOUT
    bench "$@"
  }
  HAS_SYNC=0
  "$SERVER" --help 2>/dev/null | grep -q -- '--max-sync-wait' && HAS_SYNC=1

  for i in "${!pair_counts[@]}"; do
    n=${pair_counts[$i]}
    rate=${pair_rates[$i]:-${pair_rates[0]}}
    shape="${n}x$rate"
    if wants chat; then
      # One chat-server for both receive modes: the accounts are registered once.
      chat_flags=(--allow-register --max-inbox 0 --max-connections $((2 * n + 256)))
      [ $HAS_SYNC = 1 ] && chat_flags+=(--max-sync-wait 60s)
      start_chat "${chat_flags[@]}"
      DLOAD=(-w delivery --pairs "$n" --rate "$rate" --register "${DTIMING[@]}")
      if [ $HAS_SYNC = 1 ]; then
        dbench "delivery chat: sync $shape" --addr "$CHAT_ADDR" "${DLOAD[@]}" --receive sync \
          --server-pid "$CHAT_PID"
      else
        skipped "delivery chat: sync $shape" "this chat-server has no sync command yet (issue 14)"
      fi
      dbench "delivery chat: inbox $shape" --addr "$CHAT_ADDR" "${DLOAD[@]}" --receive inbox \
        --poll-interval 1s --server-pid "$CHAT_PID"
      stop_chat
    fi
    for peer in "${PEERS[@]}"; do
      read -r name addr pid cc <<<"$peer"
      dbench "delivery $name: push $shape" --addr "$addr" -w delivery --protocol irc \
        --pairs "$n" --rate "$rate" "${DTIMING[@]}" --server-pid "$pid" --connect-concurrency "$cc"
    done
  done
  for k in $FANOUT_MEMBERS; do
    wants chat && skipped "delivery chat: fan-out ${k}x$FANOUT_RATE" "chat-server has no groups yet (issue 18)"
    for peer in "${PEERS[@]}"; do
      read -r name addr pid cc <<<"$peer"
      dbench "delivery $name: fan-out ${k}x$FANOUT_RATE" --addr "$addr" -w delivery \
        --protocol irc --fanout "$k" --rate "$FANOUT_RATE" "${DTIMING[@]}" --server-pid "$pid" \
        --connect-concurrency "$cc"
    done
  done
  for pid in $PEER_PIDS; do
    stop_pid "$pid"
  done
  PEER_PIDS=""
fi

# 6. Multi-node (issue 19): 1, 2, 3 nodes on one PostgreSQL beside an SQLite node,
# the sustained sequence inbox / send / inbox; CPU per request of nodes and of
# PostgreSQL. Skipped (with a note) when PostgreSQL is not reachable; MULTINODE=0 skips.
MULTINODE_MD=$TMP/multinode.md
if [ "${MULTINODE:-1}" != 0 ] && [ "${DELIVERY_ONLY:-0}" != 1 ]; then
  log "multi-node section (bench/multinode.sh)"
  SERVER=$SERVER BENCH=$BENCH DURATION=$ROUND_DURATION WARMUP=$WARMUP \
    bash "$ROOT/bench/multinode.sh" >"$MULTINODE_MD" || log "multi-node section failed"
fi

# ---------------------------------------------------------------- report
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
MEM=$(free -h | awk '/^Mem:/ {print $2}')
export CPU MEM STORE_NOTE
export NPROC=$(nproc)
export KERNEL=$(uname -r)
export REDIS_VERSION=$(redis-server --version | grep -o 'v=[^ ]*' | cut -d= -f2)
export INSPIRCD_VERSION=$(inspircd --version 2>/dev/null | head -n1 || true)
export NGIRCD_VERSION=$(ngircd --version 2>/dev/null | head -n1 | cut -d- -f1 || true)
export GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
report_flags=()
[ "${CHECK:-0}" = 1 ] && report_flags+=(--check)
python3 "$ROOT/bench/report.py" "$RESULTS" "$OUT" "${report_flags[@]}"
if [ -s "$MULTINODE_MD" ]; then
  printf '\n### Multi-node on PostgreSQL (bench/multinode.sh)\n\n'
  cat "$MULTINODE_MD"
fi
