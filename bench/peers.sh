# shellcheck shell=bash
# The IRC peers of the delivery benchmark (issue 14): InspIRCd 3 and ngIRCd 26 from
# Debian's packages, each started in the foreground with a config of our own, on a
# loopback port, flood control and per-address limits off (see /work/shared/peers.md).
# Sourced by bench/run.sh; every function takes PORT DIR and sets STARTED_PID.

# install_peers: installs inspircd and ngircd with apt-get when missing (as root, or
# with sudo).
install_peers() {
  local missing=()
  command -v inspircd >/dev/null 2>&1 || [ -x /usr/sbin/inspircd ] || missing+=(inspircd)
  command -v ngircd >/dev/null 2>&1 || [ -x /usr/sbin/ngircd ] || missing+=(ngircd)
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  log "installing ${missing[*]}"
  if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  # Debian's packages try to start their own daemons; ours run on their own ports,
  # so theirs (if a service manager started them) are left alone.
}

# wait_port PORT PID NAME LOG: until PORT accepts; fails when PID dies or 10 s pass.
wait_port() {
  local port=$1 pid=$2 name=$3 logfile=$4
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  log "$name did not start on port $port: $(tail -n 5 "$logfile" 2>/dev/null)"
  return 1
}

# start_inspircd PORT DIR: InspIRCd in the foreground (--nofork), as root allowed.
# The connect class is what matters for measuring delivery rather than flood control:
# no fake lag, a command rate and thresholds no client reaches, large queues, no DNS
# or ident lookups, no per-address limits.
start_inspircd() {
  local port=$1 dir=$2
  mkdir -p "$dir"
  cat >"$dir/inspircd.conf" <<CONF
# chat-bench's InspIRCd: loopback only, flood control off (bench/peers.sh)
<server name="inspircd.bench" description="chat-bench peer" network="bench">
<admin name="bench" nick="bench" email="bench@localhost">
<bind address="127.0.0.1" port="&env.BENCH_IRC_PORT;" type="clients">
<connect name="bench" allow="*" timeout="60" pingfreq="120"
         sendq="16M" softsendq="16M" hardsendq="16M" recvq="16M"
         threshold="1000000" commandrate="100000000" fakelag="no"
         localmax="100000" globalmax="100000" limit="100000" maxchans="100"
         resolvehostnames="no" useident="no" modes="">
<channels users="100" opers="100">
<limits maxnick="30" maxchan="64" maxmodes="20" maxident="11" maxhost="64"
        maxquit="255" maxtopic="307" maxkick="255" maxreal="128" maxgecos="128" maxaway="200">
<performance softlimit="100000" somaxconn="4096" clonesonconnect="no"
             quietbursts="yes" timeskipwarn="0">
<options defaultmodes="nt" maxtargets="20" fixedquit="" hostintopic="yes">
<security hideserver="" announceinvites="dynamic" runasuser="" runasgroup="">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="$dir/inspircd.log">
<files motd="/dev/null">
CONF
  BENCH_IRC_PORT=$port inspircd --runasroot --nofork --nopid --config="$dir/inspircd.conf" \
    >"$dir/out.log" 2>&1 &
  STARTED_PID=$!
  wait_port "$port" "$STARTED_PID" inspircd "$dir/out.log"
}

# start_ngircd PORT DIR: ngIRCd in the foreground (-n). MaxPenaltyTime = 0 switches its
# penalties off: without it every new client waits 4 s before its first command is
# read (the "penalty" that waits for DNS/ident results), and a client that sends a few
# commands in a row is held back a second at a time. PingTimeout is an hour: setting up
# 18 000 clients takes minutes here, and registered clients waiting for the others to
# register do not read their sockets, so they would miss a PING and be dropped.
start_ngircd() {
  local port=$1 dir=$2
  mkdir -p "$dir"
  cat >"$dir/ngircd.conf" <<CONF
# chat-bench's ngIRCd: loopback only, no connection limits (bench/peers.sh)
[Global]
Name = ngircd.bench
Info = chat-bench peer
Listen = 127.0.0.1
Ports = $port
ServerUID = $(id -u)
ServerGID = $(id -g)
MotdPhrase = bench
[Limits]
MaxConnections = 0
MaxConnectionsIP = 0
MaxJoins = 0
MaxNickLength = 30
MaxPenaltyTime = 0
PingTimeout = 3600
PongTimeout = 600
[Options]
DNS = no
Ident = no
PAM = no
CONF
  ngircd -n -f "$dir/ngircd.conf" >"$dir/out.log" 2>&1 &
  STARTED_PID=$!
  wait_port "$port" "$STARTED_PID" ngircd "$dir/out.log"
}
