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

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
  for _ in $(seq 1 600); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "nothing listens on $1"; return 1
}

BACKEND_PORT=$(free_port)
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost" -keyout "$WORK/tls.key" -out "$WORK/tls.crt" 2>/dev/null
mkdir -p "$WORK/backend" "$WORK/k8c"
cat >"$WORK/backend/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/backend/nginx.pid;
error_log $WORK/backend/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$BACKEND_PORT reuseport;
    location / { return 200 "hello\n"; }
  }
}
EOF
nginx -c "$WORK/backend/nginx.conf" -p "$WORK/backend" &
PIDS+=($!)
wait_port "$BACKEND_PORT"

"$K8C" server --data-dir "$WORK/k8c" --listen 127.0.0.1:0 >"$WORK/k8c/server.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 300); do grep -q "listening on" "$WORK/k8c/server.out" 2>/dev/null && break; sleep 0.1; done
export KUBECONFIG="$WORK/k8c/admin.kubeconfig"
cat >"$WORK/k8c/objects.yaml" <<EOF
apiVersion: v1
kind: Service
metadata: {name: backend}
spec: {ports: [{name: http, port: 80, targetPort: $BACKEND_PORT}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: backend-1, labels: {kubernetes.io/service-name: backend}}
addressType: IPv4
ports: [{name: http, port: $BACKEND_PORT, protocol: TCP}]
endpoints: [{addresses: ["127.0.0.1"], conditions: {ready: true}}]
---
apiVersion: v1
kind: Secret
metadata: {name: bench-tls}
type: kubernetes.io/tls
data:
  tls.crt: $(base64 -w0 "$WORK/tls.crt")
  tls.key: $(base64 -w0 "$WORK/tls.key")
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: local, annotations: {ingress.k8c.io/ssl-redirect: "false"}}
spec:
  ingressClassName: k8c
  tls: [{hosts: [localhost], secretName: bench-tls}]
  rules:
  - host: localhost
    http: {paths: [{path: /p0, pathType: Prefix, backend: {service: {name: backend, port: {number: 80}}}}]}
EOF
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
# The ingress listens before its first route table is built (it answers 404 until then).
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
