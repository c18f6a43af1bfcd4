#!/usr/bin/env bash
# Acceptance (issue 3, item 3): real TCP and UDP traffic through `k8c dataplane`, following a
# real `k8c server` through kubectl-applied Services and EndpointSlices.
#
#   client ns (10.99.0.2) ─┐
#   be1 ns (10.99.0.11) ───┤
#   be2 ns (10.99.0.12) ───┼── bridge (lan ns) ── dp0 (node ns): k8c dataplane on net_af_packet
#   be3 ns (10.99.0.13) ───┘                                     k8c server, kubectl
#
# The data plane owns the node address 10.99.0.1 (no kernel address on dp0): it answers ARP for
# it, resolves the backends' MACs by ARP, and routes between client and backends on one arm.
# The client reaches the service CIDR, the LoadBalancer IP and the node address through it; the
# backends send their replies to the client through it (a /32 route), as pods behind a node do.
# Everything lives in network namespaces of this test, removed on exit with every process.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netns_lib.sh"
BES=(k8c-be1-$ID k8c-be2-$ID k8c-be3-$ID)
netns_test traffic 400 "$NODE" "$LAN" "$CLI" "${BES[@]}"


# --- topology ---------------------------------------------------------------------------------
netns_lan
port "$NODE" dp0 02:00:00:00:00:01 dp
in_ns "$NODE" sysctl -qw net.ipv4.ip_forward=0
port "$CLI" eth0 02:00:00:00:00:02 cli
in_ns "$CLI" ip addr add 10.99.0.2/24 dev eth0
for route in 10.96.0.0/12 10.100.0.0/24; do in_ns "$CLI" ip route add $route via 10.99.0.1; done
for i in 1 2 3; do
  ns=${BES[$((i - 1))]}
  port "$ns" eth0 02:00:00:00:00:1$i be$i
  in_ns "$ns" ip addr add 10.99.0.1$i/24 dev eth0
  in_ns "$ns" ip route add 10.99.0.2/32 via 10.99.0.1
  ip netns exec "$ns" python3 "$E2E_DIR/fixtures/netns_backend.py" be$i 10.99.0.1$i >"$WORK/be$i.log" 2>&1 &
done

# --- control plane, in the node namespace ------------------------------------------------------
if ! start_api 0; then echo "k8c server did not start"; cat "$WORK/server.err"; exit 1; fi
API_PORT=$(sed -n 's|^k8c server listening on https://127.0.0.1:\([0-9]*\).*|\1|p' "$WORK/server.out")

slice() {  # slice NAME SERVICE ENDPOINTS-YAML
  cat <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: $1, labels: {kubernetes.io/service-name: $2}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}, {name: dns, port: 5353, protocol: UDP}]
endpoints:
$3
EOF
}
ep() {  # ep IP [ready] [terminating]
  echo "- {addresses: [$1], conditions: {ready: ${2:-true}, serving: true, terminating: ${3:-false}}, nodeName: node-1}"
}
ALL3="$(ep 10.99.0.11)
$(ep 10.99.0.12)
$(ep 10.99.0.13)"

kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: LoadBalancer
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
---
apiVersion: v1
kind: Service
metadata: {name: web-itp}
spec:
  clusterIP: 10.96.100.12
  internalTrafficPolicy: Local
  ports: [{name: http, port: 80, targetPort: 8080}]
EOF
check "LoadBalancer status set" kc patch service web --subresource=status --type=merge \
  -p '{"status":{"loadBalancer":{"ingress":[{"ip":"10.100.0.7"}]}}}'
slice web-1 web "$ALL3" | kc apply -f - >/dev/null
slice web-local-1 web-local "$(ep 10.99.0.11)" | kc apply -f - >/dev/null
# internalTrafficPolicy Local: be2 runs on another node, so only be3 (on node-1) may answer.
slice web-itp-1 web-itp "$(ep 10.99.0.12 | sed 's/node-1/node-2/')
$(ep 10.99.0.13)" | kc apply -f - >/dev/null

# --- the data plane ---------------------------------------------------------------------------
start_dataplane() {
  # ip netns exec execs the command, so $! is the data plane itself (a shell function would
  # put a subshell in between).
  ip netns exec "$NODE" "$K8C" dataplane --kubeconfig "$KUBECONFIG" --node-name node-1 \
    --node-ip 10.99.0.1/24 --metrics 127.0.0.1:0 --drain-timeout 60 \
    --eal "-l 0 --no-pci --no-huge -m 256 --file-prefix $PREFIX --vdev=net_af_packet0,iface=dp0" \
    >>"$WORK/dp.out" 2>&1 &
  DP_PID=$!
  wait_until 30 grep -q "metrics on http" "$WORK/dp.out" || return 1
  METRICS=$(sed -n 's|.*metrics on http://\([0-9.:]*\)/metrics.*|\1|p' "$WORK/dp.out" | tail -n 1)
}
metric() {  # metric NAME [LABEL-FILTER]: the sum of the series matching
  in_ns "$NODE" curl -s --max-time 5 "http://$METRICS/metrics" |
    awk -v n="$1" -v f="${2:-}" '$1 ~ "^"n"({|$)" && index($1, f) { s += $2 } END { printf "%d\n", s }'
}
table_ready() { [ "$(metric k8c_dataplane_backends)" -ge 6 ] && [ "$(metric k8c_dataplane_services)" -eq 4 ]; }

T0=$(date +%s.%N)
if ! start_dataplane; then echo "data plane did not start"; cat "$WORK/dp.out"; exit 1; fi
if wait_until 30 table_ready; then pass "the data plane follows the API (4 service ports)"; else
  fail "service table not built"; tail -n 20 "$WORK/dp.out" | sed 's/^/    /'; fi

cli() { in_ns "$CLI" timeout 120 python3 "$E2E_DIR/fixtures/netns_client.py" "$@"; }
curl_cli() { in_ns "$CLI" curl -sS --max-time 5 --retry 3 --retry-delay 1 --retry-all-errors "$@"; }

expect_contains "curl ClusterIP reaches a backend" "10.99.0.2" curl_cli http://10.96.100.10/
expect_contains "curl NodePort reaches a backend (SNAT to the node)" " 10.99.0.1" \
  curl_cli http://10.99.0.1:30080/
expect_contains "curl LoadBalancer IP reaches a backend" " 10.99.0.1" curl_cli http://10.100.0.7/
expect_contains "externalTrafficPolicy Local keeps the client address" "be1 10.99.0.2" \
  curl_cli http://10.99.0.1:30081/
cli spread 10.96.100.12 80 30 >"$WORK/itp.out" 2>&1 || true
expect_eq "internalTrafficPolicy Local: only the local endpoint answers" "be3 30 errors 0" \
  "$(tr '\n' ' ' <"$WORK/itp.out" | sed 's/ $//')"
expect_contains "UDP ClusterIP service" " 10.99.0.2" cli udp 10.96.100.10 53
expect_contains "UDP NodePort service" " 10.99.0.1" cli udp 10.99.0.1 30053
expect_contains "ICMP echo to the ClusterIP is answered" "reply from 10.96.100.10" cli ping 10.96.100.10 0

# 1000 connections over 3 backends: Maglev gives each about a third; +-30% is > 6 sigma.
cli spread 10.96.100.10 80 1000 >"$WORK/spread.out" 2>&1 || true
errors=$(awk '$1 == "errors" { print $2 }' "$WORK/spread.out")
expect_eq "1000 connections without error" "0" "${errors:-missing}"
for b in be1 be2 be3; do
  n=$(awk -v b=$b '$1 == b { print $2 }' "$WORK/spread.out")
  if [ "${n:-0}" -ge 233 ] && [ "${n:-0}" -le 433 ]; then pass "$b took $n of 1000"; else
    fail "$b took ${n:-0} of 1000: $(tr '\n' ' ' <"$WORK/spread.out")"; fi
done
echo "    spread: $(tr '\n' ' ' <"$WORK/spread.out")"
[ "${errors:-x}" = 0 ] || ip netns exec "$NODE" "$K8C" dataplane stats --metrics "$METRICS" | sed 's/^/    /'


# Long-lived connections while backends come and go: a removed backend's flow keeps running,
# the others never notice, a terminating backend drains (no new flows, old ones go on).
for i in 1 2 3 4 5 6; do cli long 10.96.100.10 80 8 "$WORK/long$i" & BACKGROUND_PIDS+=($!); done
wait_until 10 bash -c "ls $WORK/long*.started 2>/dev/null | wc -l | grep -qx 6" ||
  fail "long-lived connections did not all start"
VICTIM=$(cat "$WORK/long1.started")
VICTIM_IP=10.99.0.1${VICTIM#be}
others=""
for i in 1 2 3; do [ "10.99.0.1$i" = "$VICTIM_IP" ] || others="$others
$(ep 10.99.0.1$i)"; done
slice web-1 web "${others#?}" | kc apply -f - >/dev/null   # the victim's endpoint is gone
sleep 2
slice web-1 web "$ALL3" | kc apply -f - >/dev/null         # and back
sleep 2
# Now it terminates: no new flows for it, but its existing connection keeps going.
term=""
for i in 1 2 3; do
  if [ "10.99.0.1$i" = "$VICTIM_IP" ]; then term="$term
$(ep 10.99.0.1$i false true)"; else term="$term
$(ep 10.99.0.1$i)"; fi
done
slice web-1 web "${term#?}" | kc apply -f - >/dev/null
sleep 1
cli spread 10.96.100.10 80 100 >"$WORK/drain.out" 2>&1 || true
expect_not_contains "no new flows to the terminating $VICTIM" "$VICTIM " cat "$WORK/drain.out"
wait "${BACKGROUND_PIDS[@]}" 2>/dev/null || true
for i in 1 2 3 4 5 6; do
  expect_contains "long-lived connection $i survived the endpoint changes" "ok " cat "$WORK/long$i"
done
slice web-1 web "$ALL3" | kc apply -f - >/dev/null

# Metrics moved, and `k8c dataplane stats` summarises them.
flows=$(metric k8c_dataplane_service_flows_total 'service="default/web:http"')
if [ "${flows:-0}" -ge 1000 ]; then pass "per-service flow counter moved ($flows)"; else
  fail "per-service flows: ${flows:-none}"; fi
bflows=$(metric k8c_dataplane_backend_flows_total 'backend="10.99.0.12:8080"')
if [ "${bflows:-0}" -ge 100 ]; then pass "per-backend flow counter moved ($bflows)"; else
  fail "per-backend flows: ${bflows:-none}"; fi
expect_contains "stats prints a summary" "service default/web:http:" \
  in_ns "$NODE" "$K8C" dataplane stats --metrics "$METRICS"

# Restart: a new data plane process rebuilds from a fresh list and watch and forwards new
# connections within a second of starting.
kill -KILL "$DP_PID"; wait "$DP_PID" 2>/dev/null || true
: >"$WORK/dp.out"
cli until 10.96.100.10 80 30 "$WORK/until" >"$WORK/until.out" 2>&1 &
UNTIL=$!
wait_until 20 test -e "$WORK/until.ready" || fail "the polling client did not start"
T_RESTART=$(date +%s.%N)
start_dataplane || { fail "restarted data plane did not come up"; cat "$WORK/dp.out"; }
wait "$UNTIL" || true
took=$(awk -v a="$(cat "$WORK/until.out")" -v b="$T_RESTART" 'BEGIN { if (a == "never") print a; else printf "%.3f", a - b }')
if [ "$took" != never ] && awk -v t="$took" 'BEGIN { exit !(t < 1.0) }'; then
  pass "new connections work again ${took}s after the restart began"
else
  fail "after a restart, connections came back after: $took"
fi
echo "    restart: first connection ${took}s after the new process was started;" \
  "$(grep -o 'first service table.*' "$WORK/dp.out")"

# The API server goes away: forwarding goes on with the last tables, and once the server is
# back the data plane follows changes again.
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
expect_contains "API server down: the ClusterIP still answers" " 10.99.0.2" \
  curl_cli http://10.96.100.10/
expect_contains "API server down: the NodePort still answers" " 10.99.0.1" \
  curl_cli http://10.99.0.1:30080/
start_api "$API_PORT" || fail "the API server did not come back on port $API_PORT"
wait_until 30 kc get --raw /readyz || true
slice web-1 web "$(ep 10.99.0.12)" | kc apply -f - >/dev/null
only_be2() { cli spread 10.96.100.10 80 10 | tr '\n' ' ' | grep -qx 'be2 10 errors 0 '; }
if wait_until 30 only_be2; then pass "API server back: the data plane follows endpoint changes again"; else
  fail "after the API server came back: $(cli spread 10.96.100.10 80 10 | tr '\n' ' ')"; fi

kill -TERM "$DP_PID" 2>/dev/null; wait "$DP_PID" 2>/dev/null || true
DP_PID=""
expect_contains "the data plane stops cleanly on SIGTERM" "stopped on signal" cat "$WORK/dp.out"
finish
