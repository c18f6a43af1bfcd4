#!/usr/bin/env bash
# Instructions per proxied request of `k8c ingress`, under callgrind: a steadier measure than
# req/s on a shared machine. One host and path, an nginx backend answering a fixed 200, wrk with
# a few connections over plain HTTP and then TLS. The counters are zeroed two seconds into each
# wrk run and dumped before it ends, so start-up, route loading and TLS handshakes are not
# counted; the requests of that window come from the proxy's own /metrics counter.
#
#   bench/ingress_callgrind.sh [K8C] [SECONDS]     (OUT=DIR keeps the callgrind files there)
#
# Prints instructions per request for each run and the top functions (inclusive) of each.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
K8C=${1:-$ROOT/build/release/k8c}
DURATION=${2:-5}
for tool in nginx wrk openssl kubectl python3 valgrind callgrind_control callgrind_annotate; do
  command -v "$tool" >/dev/null || { echo "missing $tool"; exit 1; }
done
[ -x "$K8C" ] || { echo "no k8c binary at $K8C"; exit 1; }

WORK=$(mktemp -d /tmp/k8c-ingress-cg.XXXXXX)
OUT=${OUT:-$WORK/out}
mkdir -p "$OUT"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK/k8c" "$WORK/backend"
}
trap cleanup EXIT

# shellcheck source=ingress_bench_lib.sh
source "$ROOT/bench/ingress_bench_lib.sh"

BACKEND_PORT=$(free_port)
make_cert "DNS:localhost"
start_backend
start_k8c_server
{
  backend_objects
  ingress_object local localhost /p0
} >"$WORK/k8c/objects.yaml"
kubectl apply -f "$WORK/k8c/objects.yaml" >/dev/null
HTTP_PORT=$(free_port)
HTTPS_PORT=$(free_port)
METRICS_PORT=$(free_port)
valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$OUT/callgrind.%p" \
  "$K8C" ingress --kubeconfig "$KUBECONFIG" --threads 1 --access-log off \
  --listen-http "127.0.0.1:$HTTP_PORT" --listen-https "127.0.0.1:$HTTPS_PORT" --log-level warn \
  --metrics "127.0.0.1:$METRICS_PORT" \
  >"$WORK/ingress.out" 2>&1 &
VG=$!
PIDS+=($VG)
wait_port "$HTTP_PORT"
wait_port "$HTTPS_PORT"
wait_port "$METRICS_PORT"
# The ingress listens before its first route table is built (it answers 503 until then).
for _ in $(seq 1 600); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: localhost' "http://127.0.0.1:$HTTP_PORT/p0/x")" = 200 ] && break
  sleep 0.1
done

# Requests the proxy has answered so far (all routes and statuses).
answered() {
  curl -s "http://127.0.0.1:$METRICS_PORT/metrics" |
    awk '/^k8c_ingress_requests_total/ {n += $NF} END {printf "%d\n", n}'
}

measure() {  # name url
  set +o pipefail  # the listings below are cut short on purpose
  # One wrk run: connections and handshakes in its first two seconds, then the counted window.
  local wrk_out="$WORK/wrk-$1.txt"
  wrk -t1 -c4 -d"$((DURATION + 4))s" -H "Host: localhost" "$2" >"$wrk_out" 2>&1 &
  local wrk_pid=$!
  sleep 2
  local r0 reqs
  r0=$(answered)
  callgrind_control -z "$VG" >/dev/null
  sleep "$DURATION"
  callgrind_control -d "$1" "$VG" >/dev/null
  reqs=$(($(answered) - r0))
  wait "$wrk_pid" || true
  if grep -q "Non-2xx" "$wrk_out"; then echo "$1: some answers were not 2xx:"; cat "$wrk_out"; fi
  sleep 1
  # One file per thread: the worker's is the one running the proxy's worker loop.
  local file
  file=$(grep -l 'Proxy::start()::{lambda()#2}' $(ls -t "$OUT"/callgrind.*-[0-9]* | head -20) | head -1)
  mv "$file" "$OUT/$1.callgrind"
  rm -f "$OUT"/callgrind.*-[0-9]*
  # Only the worker thread counts (the informer's watch and the API client are not per request).
  local ir
  ir=$(callgrind_annotate --inclusive=yes "$OUT/$1.callgrind" 2>/dev/null |
    awk '/Proxy::start\(\)::\{lambda\(\)#2\}/ {gsub(",", "", $1); print $1; exit}')
  echo "$1: $reqs requests, worker thread $ir instructions, $(awk -v i="$ir" -v r="$reqs" 'BEGIN {printf "%.0f", r ? i / r : 0}') per request"
  echo "  top functions by own instructions per request:"
  # (callgrind charges the thread's whole cost to its entry frames as well: those are left out.)
  callgrind_annotate --threshold=100 --inclusive=no "$OUT/$1.callgrind" 2>/dev/null |
    sed -n '/file:function/,$p' | grep '^ *[0-9]' |
    grep -v 'clone.S:clone\|start_thread\|_M_run()\|libstdc++.so.6.0.30\]$' | head -"${TOP:-25}" | awk -v r="$reqs" '{n = $1; gsub(",", "", n); $1 = ""; $2 = "";
      printf "    %7.0f %s\n", n / r, substr($0, 1, 160)}'
}
measure http "http://127.0.0.1:$HTTP_PORT/p0/x" 2>&1 | tee "$OUT/http.txt"
measure tls "https://localhost:$HTTPS_PORT/p0/x" 2>&1 | tee "$OUT/tls.txt"
echo "(callgrind files in $OUT)"
