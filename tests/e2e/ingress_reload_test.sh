#!/usr/bin/env bash
# Acceptance (issue 4, item 4): while wrk sends load through `k8c ingress`, 1,000 Ingress updates
# go through the API server (each moves /api to the other Service, so every one is a new route
# table); the load ends with 0 failed requests, and a WebSocket opened before the first update
# still echoes after the last. Backends are python3 on 127.0.0.1.
source "$(dirname "$0")/lib.sh"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
command -v wrk >/dev/null || { echo "wrk is missing (scripts/setup.sh installs it)"; exit 1; }

INGRESS_PID=""
trap '[ -n "$INGRESS_PID" ] && kill "$INGRESS_PID" 2>/dev/null; cleanup' EXIT

start_server
PORT_A=$(free_port)
PORT_B=$(free_port)
PORT_WS=$(free_port)
# Keep-alive HTTP/1.1 backends with a deep accept queue (http.server's default of 5 drops SYNs
# under load, and a retransmitted SYN would show up as a slow request).
cat >"$WORK/backend.py" <<'EOF'
import http.server, socket, sys
name = sys.argv[2].encode() + b"\n"
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def setup(self):
        super().setup()
        # Head and body are two writes: without this, Nagle meets delayed ACKs (40 ms each).
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(name)))
        self.end_headers()
        self.wfile.write(name)
    def log_message(self, *args):
        pass
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True
Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
EOF
python3 "$WORK/backend.py" "$PORT_A" backend-a &
BACKGROUND_PIDS+=($!)
python3 "$WORK/backend.py" "$PORT_B" backend-b &
BACKGROUND_PIDS+=($!)
# A WebSocket stand-in: answers the Upgrade with 101, then echoes bytes.
python3 - "$PORT_WS" >/dev/null 2>&1 <<'EOF' &
import socket, sys, threading
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1]))); srv.listen(16)
def serve(c):
    head = b""
    while b"\r\n\r\n" not in head:
        d = c.recv(4096)
        if not d: return
        head += d
    c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    while True:
        d = c.recv(4096)
        if not d: return
        c.sendall(d)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
BACKGROUND_PIDS+=($!)
wait_until 20 curl -sf "http://127.0.0.1:$PORT_A/api/" || fail "backend a did not start"
wait_until 20 curl -sf "http://127.0.0.1:$PORT_B/api/" || fail "backend b did not start"

objects() {
  for s in a b ws; do
    local p
    case $s in a) p=$PORT_A ;; b) p=$PORT_B ;; ws) p=$PORT_WS ;; esac
    cat <<EOF
---
apiVersion: v1
kind: Service
metadata: {name: svc-$s}
spec: {ports: [{name: http, port: 80, targetPort: $p}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: svc-$s-1, labels: {kubernetes.io/service-name: svc-$s}}
addressType: IPv4
ports: [{name: http, port: $p, protocol: TCP}]
endpoints: [{addresses: ["127.0.0.1"], conditions: {ready: true}}]
EOF
  done
  cat <<EOF
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: my-app}
spec:
  ingressClassName: k8c
  rules:
  - host: my-app.com
    http: {paths: [{path: /api, pathType: Prefix, backend: {service: {name: svc-a, port: {number: 80}}}}]}
  - host: ws.my-app.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: svc-ws, port: {number: 80}}}}]}
EOF
}
check "apply Services, EndpointSlices and the Ingress" bash -c \
  "$(declare -f objects); PORT_A=$PORT_A PORT_B=$PORT_B PORT_WS=$PORT_WS objects | timeout 60 kubectl apply -f -"

HTTP_PORT=$(free_port)
"$K8C" ingress --kubeconfig "$KUBECONFIG" --listen-http "127.0.0.1:$HTTP_PORT" --threads 2 \
  --access-log off >"$WORK/ingress.out" 2>"$WORK/ingress.err" &
INGRESS_PID=$!
wait_until 30 grep -q "serving" "$WORK/ingress.err" || { fail "k8c ingress did not start"; tail "$WORK/ingress.err"; }
wait_until 20 bash -c "curl -sf -H 'Host: my-app.com' http://127.0.0.1:$HTTP_PORT/api/ | grep -q backend-a" ||
  fail "route not served"

# Load for longer than the updates take; wrk reports non-2xx answers and socket errors.
wrk -t1 -c8 -d20s --timeout 10s -H "Host: my-app.com" "http://127.0.0.1:$HTTP_PORT/api/" >"$WORK/wrk.out" 2>&1 &
WRK_PID=$!
sleep 1

# 1,000 updates over one keep-alive API connection, and the WebSocket check every 100.
python3 - "$SERVER_PORT" "$WORK/data/pki" "$HTTP_PORT" >"$WORK/updates.out" 2>&1 <<'EOF'
import http.client, json, socket, ssl, sys
api_port, pki, ingress_port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ctx = ssl.create_default_context(cafile=pki + "/ca.crt")
ctx.load_cert_chain(pki + "/admin.crt", pki + "/admin.key")
api = http.client.HTTPSConnection("127.0.0.1", api_port, context=ctx, timeout=30)
ws = socket.create_connection(("127.0.0.1", ingress_port), timeout=10)
ws.sendall(b"GET /chat HTTP/1.1\r\nHost: ws.my-app.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
head = b""
while b"\r\n\r\n" not in head:
    head += ws.recv(4096)
assert head.startswith(b"HTTP/1.1 101"), head
path = "/apis/networking.k8s.io/v1/namespaces/default/ingresses/my-app"
for i in range(1, 1001):
    svc = "svc-b" if i % 2 else "svc-a"
    patch = {"metadata": {"annotations": {"e2e/generation": str(i)}},
             "spec": {"rules": [
                 {"host": "my-app.com", "http": {"paths": [{"path": "/api", "pathType": "Prefix",
                   "backend": {"service": {"name": svc, "port": {"number": 80}}}}]}},
                 {"host": "ws.my-app.com", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                   "backend": {"service": {"name": "svc-ws", "port": {"number": 80}}}}]}}]}}
    api.request("PATCH", path, json.dumps(patch), {"Content-Type": "application/merge-patch+json"})
    r = api.getresponse(); r.read()
    assert r.status == 200, (i, r.status)
    if i % 100 == 0:
        msg = ("still open after %d updates" % i).encode()
        ws.sendall(msg)
        got = b""
        while len(got) < len(msg):
            d = ws.recv(4096)
            assert d, "WebSocket closed after %d updates" % i
            got += d
        assert got == msg, got
print("updates 1000, websocket ok")
EOF
rc=$?
expect_eq "1,000 Ingress updates applied, WebSocket open throughout" "updates 1000, websocket ok" \
  "$(tail -n 1 "$WORK/updates.out")"
[ $rc -eq 0 ] || sed 's/^/    /' "$WORK/updates.out" | tail -5

wait "$WRK_PID" || true
requests=$(awk '/requests in/ {print $1}' "$WORK/wrk.out")
if [ "${requests:-0}" -gt 0 ] && ! grep -qE "Non-2xx|Socket errors" "$WORK/wrk.out"; then
  pass "load through the reloads: $requests requests, 0 failed"
else
  fail "load through the reloads"; sed 's/^/    /' "$WORK/wrk.out"
fi
builds=$(cat "$WORK/ingress.out" "$WORK/ingress.err" | grep -c "route table .* published" || true)
echo "    route tables published: $builds (bursts of updates are coalesced)"
expect_contains "the last update (svc-a) is served" "backend-a" \
  curl -sS --max-time 10 -H "Host: my-app.com" "http://127.0.0.1:$HTTP_PORT/api/"
finish
