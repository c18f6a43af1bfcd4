#!/usr/bin/env bash
# Issue 3: two polling lcores on two queues (net_af_packet qpairs=2), with NATed flows end to end.
#
#   client ns (10.99.0.2) ─┐
#   be1..be3 (10.99.0.1x) ─┴── bridge (lan ns) ── dp0 (node ns): k8c dataplane, 2 queues
#
# af_packet's two queues are two sockets in one kernel fanout group (PACKET_FANOUT_HASH): the
# kernel hashes each frame's own 5-tuple. NAT gives a flow's reply another 5-tuple than its
# first packet (backend -> client, or backend -> node:SNAT port), so about half the replies land
# on the queue whose lcore does not hold the flow. The data plane steers them in software
# (dataplane/steering.h): the owner of a flow is a function of what both directions share (the
# client endpoint, or the lcore's SNAT port range). This test shows that both lcores receive,
# that frames were steered between them, and that every connection of every NAT kind works.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netns_lib.sh"
BES=(k8c-be1-$ID k8c-be2-$ID k8c-be3-$ID)
netns_test mq 300 "$NODE" "$LAN" "$CLI" "${BES[@]}"

cat >"$WORK/client.py" <<'PYEOF'
# tcp HOST PORT N: N sequential HTTP connections; udp HOST PORT N: N datagrams from N sockets.
# Prints "ok <n>" and "errors <n>" (the first errors on stderr).
import socket
import sys

mode, host, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ok = errors = 0
for i in range(n):
    try:
        if mode == "tcp":
            with socket.create_connection((host, port), timeout=3) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
            if not data.startswith(b"HTTP/1.0 200"):
                raise RuntimeError(repr(data[:40]))
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(2)
            s.sendto(b"ping", (host, port))
            s.recvfrom(2048)
            s.close()
        ok += 1
    except Exception as e:
        errors += 1
        if errors <= 3:
            print("error", i, repr(e), file=sys.stderr)
print("ok", ok)
print("errors", errors)
PYEOF

# --- topology ---------------------------------------------------------------------------------
netns_lan
port "$NODE" dp0 02:00:00:00:00:01 dp
port "$CLI" eth0 02:00:00:00:00:02 cli
in_ns "$CLI" ip addr add 10.99.0.2/24 dev eth0
in_ns "$CLI" ip route add 10.96.0.0/12 via 10.99.0.1
for i in 1 2 3; do
  ns=${BES[$((i - 1))]}
  port "$ns" eth0 02:00:00:00:00:1$i be$i
  in_ns "$ns" ip addr add 10.99.0.1$i/24 dev eth0
  in_ns "$ns" ip route add 10.99.0.2/32 via 10.99.0.1  # client-preserving flows reply via the node
  ip netns exec "$ns" python3 "$E2E_DIR/fixtures/netns_backend.py" be$i 10.99.0.1$i >"$WORK/be$i.log" 2>&1 &
done

# --- control plane -----------------------------------------------------------------------------
start_api || { echo "k8c server did not start"; cat "$WORK/server.err"; exit 1; }
kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  clusterIP: 10.96.100.10
  ports:
  - {name: http, port: 80, targetPort: 8080, nodePort: 30080}
  - {name: dns, port: 53, protocol: UDP, targetPort: 5353, nodePort: 30053}
---
apiVersion: v1
kind: Service
metadata: {name: web-local}
spec:
  type: NodePort
  clusterIP: 10.96.100.11
  externalTrafficPolicy: Local
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30081}]
EOF
for svc in web web-local; do
  kc apply -f - >/dev/null <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: $svc-1, labels: {kubernetes.io/service-name: $svc}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}, {name: dns, port: 5353, protocol: UDP}]
endpoints:
- {addresses: [10.99.0.11], conditions: {ready: true}, nodeName: node-1}
- {addresses: [10.99.0.12], conditions: {ready: true}, nodeName: node-1}
- {addresses: [10.99.0.13], conditions: {ready: true}, nodeName: node-1}
EOF
done

# --- the data plane: lcore 0 (main, waits), lcores 1 and 2 poll queues 0 and 1 -------------------
# The machine may have two CPUs: --lcores maps the three lcores onto CPUs 0 and 1.
ip netns exec "$NODE" "$K8C" dataplane --kubeconfig "$KUBECONFIG" --node-name node-1 \
  --node-ip 10.99.0.1/24 --metrics 127.0.0.1:0 \
  --eal "--lcores=0@0,1@0,2@1 --no-pci --no-huge -m 256 --file-prefix $PREFIX --vdev=net_af_packet0,iface=dp0,qpairs=2" \
  >"$WORK/dp.out" 2>&1 &
DP_PID=$!
if ! wait_until 30 grep -q "metrics on http" "$WORK/dp.out"; then
  echo "data plane did not start"; cat "$WORK/dp.out"; exit 1
fi
expect_contains "two queues, one per polling lcore" "with 2 queue(s)" cat "$WORK/dp.out"
METRICS=$(sed -n 's|.*metrics on http://\([0-9.:]*\)/metrics.*|\1|p' "$WORK/dp.out")
metric() {
  in_ns "$NODE" curl -s --max-time 5 "http://$METRICS/metrics" |
    awk -v n="$1" '$1 ~ "^"n"({|$)" { s += $2 } END { printf "%d\n", s }'
}
table_ready() { [ "$(metric k8c_dataplane_backends)" -ge 9 ]; }
wait_until 30 table_ready || fail "service table not built"

# run NAME MODE HOST PORT N: N connections without an error
run() {
  local name=$1; shift
  in_ns "$CLI" timeout 120 python3 "$WORK/client.py" "$@" >"$WORK/run.out" 2>&1 || true
  local ok errors
  ok=$(awk '$1 == "ok" { print $2 }' "$WORK/run.out")
  errors=$(awk '$1 == "errors" { print $2 }' "$WORK/run.out")
  if [ "${ok:-0}" = "$4" ] && [ "${errors:-x}" = 0 ]; then pass "$name: $4 of $4"; else
    fail "$name: $(tr '\n' ' ' <"$WORK/run.out")"; fi
}
run "ClusterIP (DNAT, client address kept)" tcp 10.96.100.10 80 200
run "NodePort, Cluster policy (DNAT + SNAT)" tcp 10.99.0.1 30080 200
run "NodePort, Local policy (DNAT, client address kept)" tcp 10.99.0.1 30081 200
run "UDP NodePort (DNAT + SNAT)" udp 10.99.0.1 30053 100
run "UDP ClusterIP" udp 10.96.100.10 53 100

kill -TERM "$DP_PID"; wait "$DP_PID" 2>/dev/null || true
DP_PID=""
sed 's/^/    /' <(grep -E "^lcore|stopped" "$WORK/dp.out")
# "lcore L queue Q: rx N, forwarded F, steered to other lcores S, iterations I"
rx0=$(sed -n 's/^lcore [0-9]* queue 0: rx \([0-9]*\),.*/\1/p' "$WORK/dp.out")
rx1=$(sed -n 's/^lcore [0-9]* queue 1: rx \([0-9]*\),.*/\1/p' "$WORK/dp.out")
steered=$(sed -n 's/^lcore .*steered to other lcores \([0-9]*\),.*/\1/p' "$WORK/dp.out" | awk '{ s += $1 } END { print s + 0 }')
if [ "${rx0:-0}" -gt 100 ] && [ "${rx1:-0}" -gt 100 ]; then
  pass "both lcores polled and processed frames (queue 0: $rx0, queue 1: $rx1)"
else
  fail "both lcores should process frames: queue 0 '${rx0:-}', queue 1 '${rx1:-}'"
fi
if [ "$steered" -gt 0 ]; then pass "replies that reached the other queue were steered ($steered frames)"; else
  fail "no frame was steered: the fanout should have sent some replies to the other queue"; fi

# Fewer polling lcores than af_packet queues would leave a socket of the fanout group unread
# (the kernel would still send it its share of the frames): refused at start-up.
rc=0
ip netns exec "$NODE" timeout 30 "$K8C" dataplane --node-name node-1 --duration 1 \
  --eal "-l 0 --no-pci --no-huge -m 256 --file-prefix $PREFIX --vdev=net_af_packet0,iface=dp0,qpairs=2" \
  >"$WORK/short.out" 2>&1 || rc=$?
expect_eq "2 queues and 1 polling lcore: exit status" 1 "$rc"
expect_contains "2 queues and 1 polling lcore: named in the error" \
  "over its 2 queues (qpairs), but only 1 lcore(s) poll" tail -n 1 "$WORK/short.out"
finish
