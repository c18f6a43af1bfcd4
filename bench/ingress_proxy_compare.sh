#!/usr/bin/env bash
# Issue 4, acceptance 5: `k8c ingress`, nginx and HAProxy side by side, in one run, on loopback.
#
# All three get the same 100 hosts (h0.bench.test .. h99.bench.test, each with the path /pN),
# upstream keep-alive to the same backend (an nginx answering a fixed 200), one worker each,
# pinned to the same core, and the same wrk load. Plain HTTP spreads requests over the 100
# hosts (a wrk Lua script); TLS uses one host, "localhost", so that wrk's SNI and the Host header
# agree (k8c answers 421 otherwise) without touching /etc/hosts. Access logs are off everywhere.
#
#   bench/ingress_proxy_compare.sh [K8C] [DURATION_S] [CONNECTIONS]
#   K8C defaults to build/release/k8c (build it with scripts/build.sh build/release
#   -DCMAKE_BUILD_TYPE=Release -DK8C_TESTS=OFF). A Debug binary runs too, but its figures say
#   nothing about the proxy.
#
# Cores: the proxy under test runs on CPU 0; wrk and the backend share CPU 1.
#
# Besides req/s and latency, each run reports the CPU time the proxy's processes (all threads and
# worker processes) used and requests per proxy CPU second ("req/s per proxy core"): with one
# core for wrk and the backend together, the load side may be what limits req/s, and the CPU a
# proxy needs per request is then the comparison that measures the proxy.
# ROUNDS=N (default 1) measures each proxy N times, interleaved, and reports the median round.
# PERF_OUT=FILE records a `perf record -e cpu-clock -g` profile of k8c during its HTTP run.
# COUNT=1 also counts the kernel work per request: the proxy's system calls by kind (`perf stat`
# on the syscalls tracepoints, all its threads and worker processes) and the TCP segments sent
# on the machine (`nstat` TcpOutSegs: every hop on loopback, so the same wrk and backend add the
# same share for every proxy), each divided by the requests of the run.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
K8C=${1:-$ROOT/build/release/k8c}
DURATION=${2:-10}
CONNS=${3:-50}
ROUNDS=${ROUNDS:-1}
PROXY_CPU=0
LOAD_CPU=1
for tool in nginx haproxy wrk openssl kubectl python3 taskset; do
  command -v "$tool" >/dev/null || { echo "missing $tool (scripts/setup.sh installs it)"; exit 1; }
done
[ -x "$K8C" ] || { echo "no k8c binary at $K8C"; exit 1; }

WORK=$(mktemp -d /tmp/k8c-ingress-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source=ingress_bench_lib.sh
source "$ROOT/bench/ingress_bench_lib.sh"

HOSTS=100
BACKEND_PORT=$(free_port)

# ---- certificate: one for localhost and *.bench.test ----
make_cert "DNS:localhost,DNS:*.bench.test"
cat "$WORK/tls.crt" "$WORK/tls.key" >"$WORK/tls.pem"

# ---- the backend: nginx with one worker answering 200 "hello" ----
start_backend taskset -c $LOAD_CPU

# ---- nginx as the proxy ----
NGX_HTTP=$(free_port)
NGX_HTTPS=$(free_port)
mkdir -p "$WORK/nginx"
{
  cat <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 1000000;
  # Upstream connections live as long as in HAProxy and k8c (nginx's default closes one every
  # 1000 requests).
  upstream backend { server 127.0.0.1:$BACKEND_PORT; keepalive 64; keepalive_requests 1000000; }
  ssl_certificate $WORK/tls.crt;
  ssl_certificate_key $WORK/tls.key;
  ssl_protocols TLSv1.2 TLSv1.3;
EOF
  emit_server() {  # name path
    cat <<EOF
  server {
    listen 127.0.0.1:$NGX_HTTP;
    listen 127.0.0.1:$NGX_HTTPS ssl;
    server_name $1;
    location / { return 404; }
    location $2 {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$remote_addr;
    }
  }
EOF
  }
  for i in $(seq 0 $((HOSTS - 1))); do emit_server "h$i.bench.test" "/p$i"; done
  emit_server localhost /p0
  echo "}"
} >"$WORK/nginx/nginx.conf"
taskset -c $PROXY_CPU nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
PIDS+=($!)
NGX_PID=$!

# ---- HAProxy ----
# The 100 host/path rules are one map lookup (a prefix tree over "host/path"), as nginx finds a
# server by name and then a location: one `use_backend` evaluation per request, not 200 ACLs.
# Like nginx's `location /pN`, "hN.bench.test/pN" is a string prefix. No `log` line: no logging.
HAP_HTTP=$(free_port)
HAP_HTTPS=$(free_port)
{
  for i in $(seq 0 $((HOSTS - 1))); do echo "h$i.bench.test/p$i be"; done
  echo "localhost/p0 be"
} >"$WORK/haproxy-routes.map"
{
  cat <<EOF
global
  nbthread 1
  cpu-map 1/1 $PROXY_CPU
  maxconn 8000
  tune.ssl.default-dh-param 2048
  ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
  option http-keep-alive
  option forwardfor
frontend fe
  bind 127.0.0.1:$HAP_HTTP
  bind 127.0.0.1:$HAP_HTTPS ssl crt $WORK/tls.pem
  http-request set-var(txn.path) path
  http-request set-var(txn.route) req.hdr(host),field(1,:),lower,concat(,txn.path)
  use_backend %[var(txn.route),map_beg($WORK/haproxy-routes.map,notfound)]
  default_backend notfound
backend notfound
  http-request return status 404
backend be
  http-reuse always
  server s1 127.0.0.1:$BACKEND_PORT maxconn 1000
EOF
} >"$WORK/haproxy.cfg"
haproxy -c -f "$WORK/haproxy.cfg" >/dev/null
taskset -c $PROXY_CPU haproxy -f "$WORK/haproxy.cfg" -db &
PIDS+=($!)
HAP_PID=$!

# ---- k8c: a server holding 100 Ingresses, and the ingress following it ----
start_k8c_server taskset -c $LOAD_CPU
{
  backend_objects
  for i in $(seq 0 $((HOSTS - 1))); do ingress_object "h$i" "h$i.bench.test" "/p$i"; done
  ingress_object local localhost /p0
} >"$WORK/k8c/objects.yaml"
kubectl apply -f "$WORK/k8c/objects.yaml" >/dev/null
K8C_HTTP=$(free_port)
K8C_HTTPS=$(free_port)
taskset -c $PROXY_CPU "$K8C" ingress --kubeconfig "$KUBECONFIG" --threads 1 --access-log off \
  --listen-http "127.0.0.1:$K8C_HTTP" --listen-https "127.0.0.1:$K8C_HTTPS" --log-level warn \
  >"$WORK/k8c/ingress.out" 2>"$WORK/k8c/ingress.err" &
PIDS+=($!)
K8C_PID=$!

for p in $NGX_HTTP $NGX_HTTPS $HAP_HTTP $HAP_HTTPS $K8C_HTTP $K8C_HTTPS; do wait_port "$p"; done

# Every proxy must route every host before it is measured.
for proxy in "nginx $NGX_HTTP" "haproxy $HAP_HTTP" "k8c $K8C_HTTP"; do
  set -- $proxy
  for i in 0 57 99; do
    body=$(curl -s --max-time 5 -H "Host: h$i.bench.test" "http://127.0.0.1:$2/p$i/x")
    [ "$body" = hello ] || { echo "$1 does not route h$i.bench.test/p$i: '$body'"; exit 1; }
  done
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: h1.bench.test' "http://127.0.0.1:$2/p2")" = 404 ] ||
    { echo "$1 routes a path the host does not have"; exit 1; }
done

# The requests are formatted once per wrk thread, so the load side spends its time sending them.
cat >"$WORK/hosts.lua" <<EOF
local reqs = {}
local i = 0
init = function(args)
  for n = 0, $HOSTS - 1 do
    reqs[n] = wrk.format("GET", "/p" .. n .. "/x", {Host = "h" .. n .. ".bench.test"})
  end
end
request = function()
  i = (i + 1) % $HOSTS
  return reqs[i]
end
EOF

# CPU time (user + system, clock ticks) of a process and its children, all threads included.
TICKS=$(getconf CLK_TCK)
# User and system ticks of a proxy: the process and its worker processes, all threads.
proc_ticks() {
  local user=0 sys=0 p u s
  for p in "$1" $(pgrep -P "$1" || true); do
    [ -r "/proc/$p/stat" ] || continue
    # Fields after the ")" that ends the command name: utime is the 12th, stime the 13th.
    read -r u s <<<"$(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12, $13}')"
    user=$((user + u))
    sys=$((sys + s))
  done
  echo "$user $sys"
}
# Busy, total and softirq ticks of one CPU, from /proc/stat (every process on it, not only the
# load). Softirq time is the kernel's receive work for loopback segments sent from that CPU,
# which the kernel accounts to no process.
cpu_ticks() {
  awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $8}' /proc/stat
}

# The system calls COUNT=1 reports one by one (all of them are counted in the total).
COUNT_NAMES="read write readv writev recvfrom sendto recvmsg sendmsg epoll_wait epoll_pwait epoll_ctl timerfd_settime"
COUNT_EVENTS=raw_syscalls:sys_enter
for n in $COUNT_NAMES; do COUNT_EVENTS="$COUNT_EVENTS,syscalls:sys_enter_$n"; done
tcp_counters() {
  nstat -azs TcpOutSegs TcpExtDelayedACKs | awk '$1 == "TcpOutSegs" {s = $2} $1 == "TcpExtDelayedACKs" {a = $2} END {print s + 0, a + 0}'
}

# run PID URL [wrk args...]: prints "req/s p50 p99 requests proxy_cpu_s per_core load_busy% errors
# user_us:sys_us:softirq_us counts", the last two fields per request.
run() {
  local pid=$1 out
  local u0 s0 l0 lt0 u1 s1 l1 lt1 q0 q1
  read -r u0 s0 <<<"$(proc_ticks "$pid")"
  read -r _ _ q0 <<<"$(cpu_ticks $PROXY_CPU)"
  read -r l0 lt0 _ <<<"$(cpu_ticks $LOAD_CPU)"
  local perf_pid=
  if [ -n "${PERF_OUT:-}" ] && [ "$pid" = "$K8C_PID" ] && [ "$2" = "http://127.0.0.1:$K8C_HTTP/" ]; then
    perf record -q -e cpu-clock -g -p "$pid" -o "$PERF_OUT" -- sleep "$DURATION" 2>/dev/null &
    perf_pid=$!
  fi
  local count_pid= segs0=0 segs1=0 acks0=0 acks1=0
  if [ -n "${COUNT:-}" ]; then
    local pids
    pids=$(echo "$pid" $(pgrep -P "$pid" || true) | tr ' ' ,)
    perf stat -x, -o "$WORK/count.out" -e "$COUNT_EVENTS" -p "$pids" -- sleep "$DURATION" \
      >/dev/null 2>&1 &
    count_pid=$!
    read -r segs0 acks0 <<<"$(tcp_counters)"
  fi
  out=$(taskset -c $LOAD_CPU wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "${@:3}" "$2" 2>&1)
  [ -z "$perf_pid" ] || wait "$perf_pid" || true
  local counts=-
  if [ -n "$count_pid" ]; then
    read -r segs1 acks1 <<<"$(tcp_counters)"
    wait "$count_pid" || true
    # "syscalls/req:epoll_wait/req:..." with the TCP segments and delayed ACKs per request last.
    counts=$(awk -F, -v r="$(awk '/requests in/ {print $1}' <<<"$out")" \
      -v segs=$((segs1 - segs0)) -v acks=$((acks1 - acks0)) '
      $3 ~ /sys_enter/ { n = $3; sub(/.*sys_enter_?/, "", n); v[n] = $1 }
      END {
        if (!r) { print "-"; exit }
        printf "%.2f", v[""] / r
        split("'"$COUNT_NAMES"'", names, " ")
        for (i = 1; i in names; i++) printf ":%.2f", v[names[i]] / r
        printf ":%.2f:%.3f\n", segs / r, acks / r
      }' "$WORK/count.out")
  fi
  read -r u1 s1 <<<"$(proc_ticks "$pid")"
  read -r _ _ q1 <<<"$(cpu_ticks $PROXY_CPU)"
  read -r l1 lt1 _ <<<"$(cpu_ticks $LOAD_CPU)"
  local t0=$((u0 + s0)) t1=$((u1 + s1))
  echo "$out" >>"$WORK/wrk.log"
  local rps p50 p99 reqs errors cpu per_core load
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  errors=$(awk '/Non-2xx|Socket errors/ {printf "%s ", $0}' <<<"$out" | tr ' ' '_')
  cpu=$(awk -v t=$((t1 - t0)) -v hz="$TICKS" 'BEGIN {printf "%.2f", t / hz}')
  per_core=$(awk -v r="${reqs:-0}" -v t=$((t1 - t0)) -v hz="$TICKS" 'BEGIN {printf "%.0f", t ? r * hz / t : 0}')
  load=$(awk -v b=$((l1 - l0)) -v t=$((lt1 - lt0)) 'BEGIN {printf "%.0f%%", t ? 100 * b / t : 0}')
  local split
  split=$(awk -v r="${reqs:-0}" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v q=$((q1 - q0)) -v hz="$TICKS" \
    'BEGIN {k = r ? 1e6 / (r * hz) : 0; printf "%.2f:%.2f:%.2f", u * k, s * k, q * k}')
  echo "${rps:-0} ${p50:-?} ${p99:-?} ${reqs:-0} $cpu $per_core $load ${errors:-none} $split $counts"
}

# ROUNDS runs of every proxy, interleaved (k8c, nginx, HAProxy, k8c, ...) so that a noisy
# neighbour hits all three alike; each proxy's reported row is its median round by req/s per
# proxy core.
declare -A R
for round in $(seq 1 "$ROUNDS"); do
  for proxy in "k8c $K8C_PID $K8C_HTTP $K8C_HTTPS" "nginx $NGX_PID $NGX_HTTP $NGX_HTTPS" \
    "haproxy $HAP_PID $HAP_HTTP $HAP_HTTPS"; do
    set -- $proxy
    R[$1,http,$round]=$(run "$2" "http://127.0.0.1:$3/" -s "$WORK/hosts.lua")
    R[$1,tls,$round]=$(run "$2" "https://localhost:$4/p0/x")
  done
done
for name in k8c nginx haproxy; do
  for kind in http tls; do
    R[$name,$kind]=$(for round in $(seq 1 "$ROUNDS"); do echo "${R[$name,$kind,$round]}"; done |
      sort -n -k6 | sed -n "$(((ROUNDS + 1) / 2))p")
  done
done

# "req/s per proxy core" is requests divided by the CPU seconds the proxy's processes used during
# the run: what one fully busy core of that proxy would serve. It measures the proxy even when
# the load side (wrk and the backend sharing one core) is what limits req/s; "load CPU" says
# how busy that core was (near 100% with a quiet machine: req/s is the load side's limit, not
# the proxy's; other processes on the machine count too).
for kind in http tls; do
  [ $kind = http ] && echo "HTTP, 100 hosts" || echo "TLS (one host)"
  printf "  %-8s %10s %9s %9s %10s %14s %10s\n" proxy "req/s" p50 p99 "proxy CPU" "req/s per core" "load CPU"
  for name in k8c nginx haproxy; do
    read -r rps p50 p99 reqs cpu per_core load errors _ <<<"${R[$name,$kind]}"
    printf "  %-8s %10s %9s %9s %9ss %14s %10s\n" "$name" "$rps" "$p50" "$p99" "$cpu" "$per_core" "$load"
    [ "$errors" = none ] || echo "           errors: ${errors//_/ }"
  done
  read -r k_rps _ _ _ _ k_core _ <<<"${R[k8c,$kind]}"
  for other in nginx haproxy; do
    read -r o_rps _ _ _ _ o_core _ <<<"${R[$other,$kind]}"
    awk -v a="$k_rps" -v b="$o_rps" -v c="$k_core" -v d="$o_core" -v o="$other" \
      'BEGIN {printf "  k8c/%-8s req/s %.2fx   req/s per proxy core %.2fx\n", o, b ? a / b : 0, d ? c / d : 0}'
  done
done
# Where the proxy's core went, per request: its own user and system time, and the softirq time
# of its CPU (loopback receive work for what it sent, charged to no process). System and softirq
# time is the kernel's TCP work, about the same for every proxy (COUNT=1 shows the same system
# calls and segments); user time is what the proxy's own code costs.
echo "Proxy CPU per request (microseconds)"
{
  echo "run proxy user system softirq kernel_share"
  for kind in http tls; do
    for name in k8c nginx haproxy; do
      read -r _ _ _ _ _ _ _ _ split _ <<<"${R[$name,$kind]}"
      IFS=: read -r u s q <<<"$split"
      awk -v k="$kind" -v n="$name" -v u="$u" -v s="$s" -v q="$q" \
        'BEGIN {t = u + s + q; printf "%s %s %.2f %.2f %.2f %.0f%%\n", k, n, u, s, q, t ? 100 * (s + q) / t : 0}'
    done
  done
} | column -t | sed 's/^/  /'
if [ -n "${COUNT:-}" ]; then
  echo "Kernel work per request (COUNT=1; the proxy's system calls, TCP segments of all hops)"
  {
    echo "run proxy syscalls $COUNT_NAMES tcp_segs delayed_acks"
    for kind in http tls; do
      for name in k8c nginx haproxy; do
        read -r _ _ _ _ _ _ _ _ _ counts <<<"${R[$name,$kind]}"
        echo "$kind $name ${counts//:/ }"
      done
    done
  } | column -t | sed 's/^/  /'
fi
echo "(wrk -t1 -c$CONNS -d${DURATION}s, median of $ROUNDS round(s); proxies on CPU $PROXY_CPU, wrk and backend on CPU $LOAD_CPU; $(basename "$K8C") = $K8C)"
