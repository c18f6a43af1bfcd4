# Shared by bench/ingress_proxy_compare.sh and bench/ingress_callgrind.sh: free ports, a
# self-signed certificate, the nginx backend answering a fixed 200, a real `k8c server`, and the
# objects that route to that backend. The caller sets WORK and PIDS (every process started here
# is appended to PIDS, for its cleanup) before sourcing.

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

# make_cert SAN: $WORK/tls.crt and $WORK/tls.key for CN localhost and the subjectAltName given.
make_cert() {
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -addext "subjectAltName=$1" -keyout "$WORK/tls.key" -out "$WORK/tls.crt" 2>/dev/null
}

# start_backend [PREFIX...]: nginx with one worker answering 200 "hello" on $BACKEND_PORT, run
# under PREFIX (e.g. taskset -c 1).
start_backend() {
  mkdir -p "$WORK/backend"
  cat >"$WORK/backend/nginx.conf" <<CONF
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
CONF
  "$@" nginx -c "$WORK/backend/nginx.conf" -p "$WORK/backend" &
  PIDS+=($!)
  wait_port "$BACKEND_PORT"
}

# start_k8c_server [PREFIX...]: `$K8C server` on the embedded store in $WORK/k8c; exports
# KUBECONFIG once it listens.
start_k8c_server() {
  mkdir -p "$WORK/k8c"
  "$@" "$K8C" server --data-dir "$WORK/k8c" --listen 127.0.0.1:0 \
    >"$WORK/k8c/server.out" 2>"$WORK/k8c/server.err" &
  PIDS+=($!)
  for _ in $(seq 1 300); do grep -q "listening on" "$WORK/k8c/server.out" 2>/dev/null && break; sleep 0.1; done
  export KUBECONFIG="$WORK/k8c/admin.kubeconfig"
}

# The Service "backend" (a selector-less Service whose EndpointSlice is the backend nginx) and
# the TLS Secret "bench-tls" holding $WORK/tls.crt and tls.key, as YAML.
backend_objects() {
  cat <<YAML
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
YAML
}

# ingress_object NAME HOST PATH: an Ingress of class k8c routing HOST and PATH (Prefix) to the
# backend, over HTTP and over TLS with bench-tls, without the redirect to HTTPS.
ingress_object() {
  cat <<YAML
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: $1, annotations: {ingress.k8c.io/ssl-redirect: "false"}}
spec:
  ingressClassName: k8c
  tls: [{hosts: ["$2"], secretName: bench-tls}]
  rules:
  - host: $2
    http: {paths: [{path: $3, pathType: Prefix, backend: {service: {name: backend, port: {number: 80}}}}]}
YAML
}
