#!/usr/bin/env bash
# Acceptance (issue 4, item 2): the real kubectl applies an Ingress for my-app.com with two paths
# pointing at two Services (no selector; EndpointSlices written here point at two python3
# http.server backends on 127.0.0.1); `k8c ingress` routes each path to its backend over HTTP and
# HTTPS (certificate from a kubectl-applied TLS Secret), takes an edited Ingress without a
# restart, and writes its address into the Ingress status. Start-up errors are one line.
source "$(dirname "$0")/lib.sh"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

INGRESS_PID=""
trap '[ -n "$INGRESS_PID" ] && kill "$INGRESS_PID" 2>/dev/null; cleanup' EXIT

# ---- start-up errors: one line naming the problem, exit 1 ----
expect_startup_error() {
  local name=$1 needle=$2; shift 2
  local rc=0
  timeout 30 "$K8C" ingress "$@" >"$WORK/bad.out" 2>&1 || rc=$?
  local last
  last=$(tail -n 1 "$WORK/bad.out")
  if [ "$rc" -ne 1 ]; then
    fail "$name: exit status $rc, want 1"; tail -n 5 "$WORK/bad.out" | sed 's/^/    /'
  elif [[ "$last" != "k8c ingress: "*"$needle"* ]]; then
    fail "$name: last line should name '$needle', got: $last"
  else
    pass "$name"
  fi
}

start_server
expect_startup_error "bad listen address" "--listen-http must be HOST:PORT" \
  --kubeconfig "$KUBECONFIG" --listen-http nonsense
expect_startup_error "missing kubeconfig file" "--kubeconfig /nonexistent" \
  --kubeconfig /nonexistent --listen-http 127.0.0.1:0
expect_startup_error "port in use" "Address already in use" \
  --kubeconfig "$KUBECONFIG" --listen-http "127.0.0.1:$SERVER_PORT"
expect_startup_error "bad body size" "--proxy-body-size" \
  --kubeconfig "$KUBECONFIG" --listen-http 127.0.0.1:0 --proxy-body-size 12parsecs
sed "s#server: https://127.0.0.1:$SERVER_PORT#server: https://127.0.0.1:1#" "$KUBECONFIG" >"$WORK/unreachable.kubeconfig"
expect_startup_error "unreachable API server" "cannot list Ingresses" \
  --kubeconfig "$WORK/unreachable.kubeconfig" --listen-http 127.0.0.1:0 --wait-api 2

# ---- two backends; each says which backend and which path answered ----
PORT_A=$(free_port)
PORT_B=$(free_port)
for b in a b; do
  for p in app api new; do
    mkdir -p "$WORK/$b/$p"
    echo "backend-$b:$p" >"$WORK/$b/$p/index.html"
  done
done
(cd "$WORK/a" && exec python3 -m http.server "$PORT_A" --bind 127.0.0.1 >"$WORK/a.log" 2>&1) &
BACKGROUND_PIDS+=($!)
(cd "$WORK/b" && exec python3 -m http.server "$PORT_B" --bind 127.0.0.1 >"$WORK/b.log" 2>&1) &
BACKGROUND_PIDS+=($!)
wait_until 20 curl -sf "http://127.0.0.1:$PORT_A/app/" || fail "backend a did not start"
wait_until 20 curl -sf "http://127.0.0.1:$PORT_B/app/" || fail "backend b did not start"

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=my-app.com \
  -addext subjectAltName=DNS:my-app.com -keyout "$WORK/tls.key" -out "$WORK/tls.crt" 2>/dev/null
# `kubectl create secret tls` sends protobuf; generate the manifest client-side and apply it.
check "apply TLS Secret" bash -c "timeout 60 kubectl create secret tls my-app-tls --cert '$WORK/tls.crt' \
  --key '$WORK/tls.key' --dry-run=client -o yaml | timeout 60 kubectl apply -f -"

backends() {
  cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: svc-a}
spec:
  ports: [{name: http, port: 80, targetPort: $PORT_A}]
---
apiVersion: v1
kind: Service
metadata: {name: svc-b}
spec:
  ports: [{name: http, port: 80, targetPort: $PORT_B}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: svc-a-1
  labels: {kubernetes.io/service-name: svc-a}
addressType: IPv4
ports: [{name: http, port: $PORT_A, protocol: TCP}]
endpoints: [{addresses: ["127.0.0.1"], conditions: {ready: true}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: svc-b-1
  labels: {kubernetes.io/service-name: svc-b}
addressType: IPv4
ports: [{name: http, port: $PORT_B, protocol: TCP}]
endpoints: [{addresses: ["127.0.0.1"], conditions: {ready: true}}]
EOF
}

# ingress_manifest API_SERVICE: my-app.com with /app -> svc-a and /api -> API_SERVICE.
ingress_manifest() {
  cat <<EOF
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: my-app
  annotations:
    ingress.k8c.io/ssl-redirect: "false"
spec:
  ingressClassName: k8c
  tls:
  - hosts: [my-app.com]
    secretName: my-app-tls
  rules:
  - host: my-app.com
    http:
      paths:
      - {path: /app, pathType: Prefix, backend: {service: {name: svc-a, port: {number: 80}}}}
      - {path: /api, pathType: Prefix, backend: {service: {name: $1, port: {name: http}}}}
EOF
}

check "apply Services and EndpointSlices" bash -c "$(declare -f backends); PORT_A=$PORT_A PORT_B=$PORT_B backends | timeout 60 kubectl apply -f -"
check "apply Ingress" bash -c "$(declare -f ingress_manifest); ingress_manifest svc-b | timeout 60 kubectl apply -f -"

HTTP_PORT=$(free_port)
HTTPS_PORT=$(free_port)
METRICS_PORT=$(free_port)
"$K8C" ingress --kubeconfig "$KUBECONFIG" --listen-http "127.0.0.1:$HTTP_PORT" \
  --listen-https "127.0.0.1:$HTTPS_PORT" --metrics "127.0.0.1:$METRICS_PORT" --threads 2 \
  --status-address 127.0.0.1 --access-log "$WORK/access.log" >"$WORK/ingress.out" 2>"$WORK/ingress.err" &
INGRESS_PID=$!
if ! wait_until 30 grep -q "serving" "$WORK/ingress.err"; then
  fail "k8c ingress did not start"; sed 's/^/    /' "$WORK/ingress.err" | tail -20
fi

http() { curl -sS --max-time 10 --resolve "my-app.com:$HTTP_PORT:127.0.0.1" "http://my-app.com:$HTTP_PORT$1"; }
https() {
  curl -sS --max-time 10 --cacert "$WORK/tls.crt" --resolve "my-app.com:$HTTPS_PORT:127.0.0.1" \
    "https://my-app.com:$HTTPS_PORT$1"
}

expect_contains "HTTP /app/ reaches backend a" "backend-a:app" http /app/
expect_contains "HTTP /api/ reaches backend b" "backend-b:api" http /api/
expect_contains "HTTPS /app/ reaches backend a" "backend-a:app" https /app/
expect_contains "HTTPS /api/ reaches backend b" "backend-b:api" https /api/
expect_contains "unknown path is 404" "404" \
  curl -sS -o /dev/null -w '%{http_code}' --resolve "my-app.com:$HTTP_PORT:127.0.0.1" "http://my-app.com:$HTTP_PORT/other"

status_ip() { timeout 20 kubectl get ingress my-app -o jsonpath='{.status.loadBalancer.ingress[0].ip}'; }
if wait_until 20 bash -c "[ \"\$($(declare -f status_ip); status_ip)\" = 127.0.0.1 ]"; then
  pass "Ingress status carries the ingress address"
else
  fail "Ingress status: got '$(status_ip)'"
fi
expect_contains "kubectl get ingress shows the address" "127.0.0.1" timeout 20 kubectl get ingress my-app

# An edit takes effect without a restart: /api moves to svc-a.
check "apply edited Ingress" bash -c "$(declare -f ingress_manifest); ingress_manifest svc-a | timeout 60 kubectl apply -f -"
if wait_until 20 bash -c "curl -sS --max-time 5 --resolve my-app.com:$HTTP_PORT:127.0.0.1 http://my-app.com:$HTTP_PORT/api/ | grep -q backend-a:api"; then
  pass "edited route takes effect without restart"
else
  fail "edited route: got '$(http /api/)'"
fi
expect_contains "HTTPS follows the edit" "backend-a:api" https /api/
expect_eq "same ingress process" "1" "$(kill -0 "$INGRESS_PID" 2>/dev/null && echo 1 || echo 0)"

# Removing svc-b's endpoints is a 503 for a route that still points at it.
check "point /app at svc-b" bash -c "$(declare -f ingress_manifest); ingress_manifest svc-b | timeout 60 kubectl apply -f -"
check "delete svc-b's EndpointSlice" timeout 60 kubectl delete endpointslice svc-b-1
if wait_until 20 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --resolve my-app.com:$HTTP_PORT:127.0.0.1 http://my-app.com:$HTTP_PORT/api/)\" = 503 ]"; then
  pass "no endpoints: 503"
else
  fail "no endpoints: got $(curl -s -o /dev/null -w '%{http_code}' --resolve my-app.com:$HTTP_PORT:127.0.0.1 http://my-app.com:$HTTP_PORT/api/)"
fi

expect_contains "JSON access log" '"ingress":"default/my-app"' cat "$WORK/access.log"
expect_contains "metrics per route" 'k8c_ingress_requests_total{host="my-app.com",path="/app",status="2xx"}' \
  curl -sS --max-time 10 "http://127.0.0.1:$METRICS_PORT/metrics"

# An Ingress moved to another class loses our address.
check "move the Ingress to another class" timeout 60 kubectl patch ingress my-app --type merge \
  -p '{"spec":{"ingressClassName":"someone-else"}}'
if wait_until 20 bash -c "[ -z \"\$($(declare -f status_ip); status_ip)\" ]"; then
  pass "status cleared when the Ingress is no longer ours"
else
  fail "status after the class change: '$(status_ip)'"
fi

kill -TERM "$INGRESS_PID"
rc=0
timeout 20 tail --pid="$INGRESS_PID" -f /dev/null || rc=$?
expect_eq "k8c ingress stops within 20s of SIGTERM" 0 "$rc"
code=0
[ "$rc" -eq 0 ] && { wait "$INGRESS_PID" || code=$?; }
expect_eq "k8c ingress exits 0 (sanitizer builds: no leak or error report)" 0 "$code"
[ "$code" -eq 0 ] || tail -n 20 "$WORK/ingress.err" | sed 's/^/    /'
INGRESS_PID=""
finish
