#!/usr/bin/env bash
# Issue 3: the kernel exception path (--kernel-port) and healthCheckNodePort, with real traffic.
#
#   client ns (10.99.0.2) ─┐
#   be1 ns (10.99.0.11) ───┴── bridge (lan ns) ── dp0 (node ns): k8c dataplane on net_af_packet
#                                                  └─ k8c0: its tap, 10.99.0.1/24 (the kernel's)
#   pod ns (10.244.0.5) ── veth ── node ns (10.244.0.1): a pod behind the node's kernel
#
# The data plane owns dp0; the node's kernel owns the node address 10.99.0.1 on the tap the data
# plane creates. The node kernel never sees dp0's frames itself (a netdev ingress drop: DPDK's
# af_packet socket reads them before that hook), so whatever the kernel answers reached it
# through the data plane, and whatever it sends left through the data plane:
#   - ping and a TCP server on the node address, from the client;
#   - the kernel's own connections out (its ARP resolution included);
#   - NodePorts next to all that (SNAT with the node address);
#   - the node's own processes and a pod behind its kernel reaching a ClusterIP, with the service
#     CIDR routed into the tap;
#   - healthCheckNodePort of an externalTrafficPolicy Local LoadBalancer Service: 200 with local
#     endpoints, 503 without, closed when the Service goes;
#   - kube-proxy's /healthz (--healthz): 200 while the data plane is healthy, 503 while its Node
#     is tainted ToBeDeletedByClusterAutoscaler (which the Service's check does not heed).
# The lcore runs with --idle-sleep-us (what a veth node wants): everything above holds with an
# lcore that sleeps when idle.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netns_lib.sh"
command -v nft >/dev/null || { echo "nft is required (Debian package nftables)"; exit 1; }
[ -c /dev/net/tun ] || { echo "/dev/net/tun is required for the tap"; exit 1; }
BE=k8c-be1-$ID POD=k8c-pod-$ID
netns_test kernel 240 "$NODE" "$LAN" "$CLI" "$BE" "$POD"

cat >"$WORK/server.py" <<'PYEOF'
# An HTTP server answering "<name> <peer address>" on every GET.
import http.server
import sys

name, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{name} {self.client_address[0]}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer((host, port), Handler).serve_forever()
PYEOF

# --- topology ---------------------------------------------------------------------------------
netns_lan
port "$NODE" dp0 02:00:00:00:00:01 dp
in_ns "$NODE" ip link set dp0 arp off
in_ns "$NODE" nft add table netdev k8c
in_ns "$NODE" nft add chain netdev k8c dp0 "{ type filter hook ingress device dp0 priority 0; policy drop; }"
port "$CLI" eth0 02:00:00:00:00:02 cli
in_ns "$CLI" ip addr add 10.99.0.2/24 dev eth0
port "$BE" eth0 02:00:00:00:00:11 be1
in_ns "$BE" ip addr add 10.99.0.11/24 dev eth0
in_ns "$BE" ip route add 10.99.0.2/32 via 10.99.0.1  # replies of Local flows return through the node
in_ns "$BE" ip route add 10.244.0.0/24 via 10.99.0.1  # the node's pod CIDR, as a cluster routes it
# The pod: a veth into the node's kernel, which routes for it.
ip link add eth0 netns "$POD" type veth peer name pod0 netns "$NODE"
in_ns "$POD" ip addr add 10.244.0.5/24 dev eth0
in_ns "$POD" ip link set eth0 up
in_ns "$POD" ip route add default via 10.244.0.1
in_ns "$NODE" ip addr add 10.244.0.1/24 dev pod0
in_ns "$NODE" ip link set pod0 up
in_ns "$NODE" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$BE" python3 "$WORK/server.py" be1 10.99.0.11 8080 >"$WORK/be1.log" 2>&1 &
# The node's own server: on every address, so it is up before the tap exists.
ip netns exec "$NODE" python3 "$WORK/server.py" node-kernel 0.0.0.0 9000 >"$WORK/node.log" 2>&1 &

# --- control plane, in the node namespace ------------------------------------------------------
start_api || { echo "k8c server did not start"; cat "$WORK/server.err"; exit 1; }

slice() {  # slice NODE-NAME: web-local's slice, its one endpoint on NODE-NAME
  cat <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-local-1, labels: {kubernetes.io/service-name: web-local}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- {addresses: [10.99.0.11], conditions: {ready: true, serving: true, terminating: false}, nodeName: $1}
EOF
}
kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: web-local}
spec:
  type: LoadBalancer
  clusterIP: 10.96.100.11
  externalTrafficPolicy: Local
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30081}]
EOF
slice node-1 | kc apply -f - >/dev/null
HC=$(kc get service web-local -o jsonpath='{.spec.healthCheckNodePort}')
if [ -n "$HC" ] && [ "$HC" -gt 0 ]; then pass "the API server allocated healthCheckNodePort $HC"; else
  fail "no healthCheckNodePort on an externalTrafficPolicy Local LoadBalancer: '$HC'"; fi

cli_curl() { in_ns "$CLI" curl -sS --max-time 5 "$@"; }
# Before the data plane runs, nothing answers for the node address: what answers later came
# through the exception path.
if cli_curl --max-time 2 http://10.99.0.1:9000/ >/dev/null 2>&1; then
  fail "the node's server answered before the data plane ran (the test topology leaks)"
else
  pass "without the data plane the node address is unreachable"
fi

# --- the data plane ---------------------------------------------------------------------------
ip netns exec "$NODE" "$K8C" dataplane --kubeconfig "$KUBECONFIG" --node-name node-1 \
  --node-ip 10.99.0.1/24 --kernel-port k8c0 --metrics 127.0.0.1:0 --healthz 127.0.0.1:0 \
  --idle-sleep-us 50 \
  --eal "-l 0 --no-pci --no-huge -m 256 --file-prefix $PREFIX --vdev=net_af_packet0,iface=dp0" \
  >"$WORK/dp.out" 2>&1 &
DP_PID=$!
if ! wait_until 30 grep -q "metrics on http" "$WORK/dp.out"; then
  echo "data plane did not start"; cat "$WORK/dp.out"; exit 1
fi
expect_contains "the tap carries the node address" "inet 10.99.0.1/24" in_ns "$NODE" ip -4 addr show k8c0
expect_contains "the tap has the port's MAC" "02:00:00:00:00:01" in_ns "$NODE" ip link show k8c0

expect_contains "ping to the node address is answered by the kernel" "reply from 10.99.0.1" \
  in_ns "$CLI" python3 "$E2E_DIR/fixtures/netns_client.py" ping 10.99.0.1 0
expect_contains "TCP to the node's own server, through the data plane's port" "node-kernel 10.99.0.2" \
  cli_curl --retry 3 --retry-delay 1 --retry-all-errors http://10.99.0.1:9000/
expect_contains "the kernel's own connections out (its ARP included) leave by the port" \
  "be1 10.99.0.1" in_ns "$NODE" curl -sS --max-time 5 http://10.99.0.11:8080/
expect_contains "a NodePort next to the kernel's traffic" "be1 10.99.0.2" \
  cli_curl --retry 3 --retry-delay 1 --retry-all-errors http://10.99.0.1:30081/

# The node routes the service CIDR into the tap, as the node agent does: its own processes reach
# ClusterIPs through the data plane (the backend sees the node address: a ClusterIP keeps it).
in_ns "$NODE" ip route add 10.96.0.0/12 dev k8c0
expect_contains "a process on the node reaches a ClusterIP through the tap" "be1 10.99.0.1" \
  in_ns "$NODE" curl -sS --max-time 5 --retry 3 --retry-delay 1 --retry-all-errors http://10.96.100.11/
expect_contains "the kernel learnt the ClusterIP's MAC from the data plane (the port's)" \
  "02:00:00:00:00:01" in_ns "$NODE" ip neigh show 10.96.100.11 dev k8c0
expect_contains "a pod behind the node's kernel reaches the ClusterIP, its address kept" \
  "be1 10.244.0.5" \
  in_ns "$POD" curl -sS --max-time 5 --retry 3 --retry-delay 1 --retry-all-errors http://10.96.100.11/

# --- healthCheckNodePort -------------------------------------------------------------------------
hc_status() { in_ns "$CLI" curl -s -o "$WORK/hc.body" -w '%{http_code}' --max-time 3 "http://10.99.0.1:$HC/healthz"; }
hc_is() { [ "$(hc_status)" = "$1" ]; }
if wait_until 20 hc_is 200; then pass "healthCheckNodePort: 200 with a local endpoint"; else
  fail "healthCheckNodePort: $(hc_status) instead of 200"; tail -n 5 "$WORK/dp.out" | sed 's/^/    /'; fi
body=$(tr -d '\n\t ' <"$WORK/hc.body")
expect_eq "healthCheckNodePort body as kube-proxy's" \
  '{"service":{"namespace":"default","name":"web-local"},"localEndpoints":1,"serviceProxyHealthy":true}' \
  "$body"

# --- kube-proxy's /healthz -----------------------------------------------------------------------
HZ=$(sed -n 's|.*healthz on http://\([0-9.]*:[0-9]*\)/healthz.*|\1|p' "$WORK/dp.out" | head -n 1)
hz_status() { in_ns "$NODE" curl -s -o "$WORK/hz.body" -w '%{http_code}' --max-time 3 "http://$HZ/$1"; }
hz_is() { [ "$(hz_status "$1")" = "$2" ]; }
if [ -n "$HZ" ] && hz_is healthz 200; then pass "/healthz: 200 while the lcore loops and the table is current"; else
  fail "/healthz on '$HZ': $(hz_status healthz) instead of 200"; fi
expect_contains "/healthz body as kube-proxy's" '"nodeEligible": true}' cat "$WORK/hz.body"
kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata: {name: node-1}
spec:
  taints: [{key: ToBeDeletedByClusterAutoscaler, value: "1", effect: NoSchedule}]
EOF
if wait_until 20 hz_is healthz 503; then pass "/healthz: 503 while the Node is to be deleted"; else
  fail "/healthz with the autoscaler's taint: $(hz_status healthz) instead of 503"; fi
expect_contains "/healthz says the node is not eligible" '"nodeEligible": false}' cat "$WORK/hz.body"
if hz_is livez 200; then pass "/livez: still 200 (the proxy itself is healthy)"; else
  fail "/livez: $(hz_status livez) instead of 200"; fi
if hc_is 200; then pass "healthCheckNodePort: still 200 (node eligibility is /healthz's alone)"; else
  fail "healthCheckNodePort: $(hc_status) with a tainted Node instead of 200"; fi
kc delete node node-1 >/dev/null
if wait_until 20 hz_is healthz 200; then pass "/healthz: 200 again once the Node is gone"; else
  fail "/healthz after the Node went: $(hz_status healthz) instead of 200"; fi

slice node-2 | kc apply -f - >/dev/null   # the endpoint moves to another node
if wait_until 20 hc_is 503; then pass "healthCheckNodePort: 503 once no endpoint is local"; else
  fail "healthCheckNodePort: $(hc_status) instead of 503"; fi
expect_contains "503 body counts no local endpoint" '"localEndpoints": 0' cat "$WORK/hc.body"
kc delete service web-local >/dev/null
if wait_until 20 bash -c "! ip netns exec $CLI curl -s --max-time 2 http://10.99.0.1:$HC/ >/dev/null"; then
  pass "healthCheckNodePort closes when the Service goes"
else
  fail "healthCheckNodePort still answers after the Service was deleted"
fi

kill -TERM "$DP_PID"; wait "$DP_PID" 2>/dev/null || true
DP_PID=""
last=$(grep "stopped" "$WORK/dp.out" || true)
to_k=$(sed -n 's/.*to kernel \([0-9]*\).*/\1/p' <<<"$last")
from_k=$(sed -n 's/.*from kernel \([0-9]*\).*/\1/p' <<<"$last")
if [ "${to_k:-0}" -gt 0 ] && [ "${from_k:-0}" -gt 0 ]; then
  pass "frames went both ways through the exception path ($to_k to the kernel, $from_k from it)"
else
  fail "exception path counters: $last"
fi
sleeps=$(sed -n 's/^lcore [0-9]*: \([0-9]*\) idle sleeps.*/\1/p' "$WORK/dp.out")
if [ "${sleeps:-0}" -gt 0 ]; then pass "the idle lcore slept ($sleeps times)"; else
  fail "--idle-sleep-us: no idle sleep reported"; fi
check "the tap is gone with the data plane" bash -c "! ip netns exec $NODE ip link show k8c0"
finish
