# Shared by bench/dataplane_memif_compare.sh and bench/dataplane_nftables_compare.sh: a real
# `k8c server` with one UDP Service (ClusterIP 10.96.100.10:53 -> 3 backends on :5353), the
# generator and data plane command lines, and a cleanup that removes every process, network
# namespace and DPDK runtime directory the benchmark made.
#
# The data plane polls on CPU 1 (EAL -l 1) and the generator on CPU 0 (EAL -l 0), so each load
# balancer under test gets one core and the generator the other.
set -euo pipefail
K8C_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
K8C=${1:-${K8C:-$K8C_SRC/build/release/k8c}}
GEN=${GEN:-$(dirname "$K8C")/bench/dataplane_traffic_gen}
SECONDS_RUN=${SECONDS_RUN:-5}
FLOWS=${FLOWS:-1024}
[ -x "$K8C" ] || { echo "no k8c binary at $K8C (first argument or \$K8C)"; exit 1; }
[ -x "$GEN" ] || { echo "no generator at $GEN (\$GEN)"; exit 1; }
# shellcheck source=../tests/e2e/lib.sh
source "$K8C_SRC/tests/e2e/lib.sh"  # WORK, wait_until; its cleanup runs from ours

ID=$$
VIP=10.96.100.10
BACKENDS=(10.99.0.11 10.99.0.12 10.99.0.13)
BACKEND_MACS=(02:00:00:00:00:11 02:00:00:00:00:12 02:00:00:00:00:13)
DP_MAC=02:00:00:00:00:01 GEN_MAC=02:00:00:00:00:02
NODE_IP=10.99.0.1 GEN_IP=10.99.0.2
DP_PREFIX=k8c-bdp-$ID GEN_PREFIX=k8c-bgen-$ID
NSES=()
PIDS=()
WATCHDOG=""

bench_teardown() {
  exec 2>/dev/null  # bash's "Killed"/"Terminated" notices for the processes ended here
  if [ -n "$WATCHDOG" ]; then kill "$WATCHDOG" 2>/dev/null || true; pkill -P "$WATCHDOG" 2>/dev/null || true; fi
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for ns in "${NSES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "/var/run/dpdk/$DP_PREFIX" "/var/run/dpdk/$GEN_PREFIX"
  cleanup
}
trap bench_teardown EXIT
# Bounded: a hang ends the run instead of holding the machine.
# Its stderr is closed: the subshell would report its sleep being ended at teardown.
( sleep "${BENCH_TIMEOUT:-240}" >/dev/null 2>&1; echo "benchmark timed out"; kill -TERM $ID ) 2>/dev/null &
WATCHDOG=$!

# start_api NETNS: `k8c server` inside the namespace the data plane runs in, since the data
# plane reaches it (and serves metrics) on that namespace's loopback.
start_api() {
  mkdir -p "$WORK/data"
  ip netns exec "$1" "$K8C" server --data-dir "$WORK/data" --listen 127.0.0.1:0 \
    >"$WORK/server.out" 2>"$WORK/server.err" &
  PIDS+=($!)
  API_NS=$1
  wait_until 60 grep -q "listening on" "$WORK/server.out" || { echo "k8c server did not start:"; cat "$WORK/server.err"; exit 1; }
  export KUBECONFIG="$WORK/data/admin.kubeconfig"
}

# The Service as kube-proxy and the data plane both see it: selector-less, one EndpointSlice.
apply_service() {
  ip netns exec "$API_NS" timeout 60 kubectl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Service
metadata: {name: bench}
spec:
  clusterIP: $VIP
  ports: [{name: dns, port: 53, protocol: UDP, targetPort: 5353}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: bench-1, labels: {kubernetes.io/service-name: bench}}
addressType: IPv4
ports: [{name: dns, port: 5353, protocol: UDP}]
endpoints:
- {addresses: [${BACKENDS[0]}], conditions: {ready: true}, nodeName: node-1}
- {addresses: [${BACKENDS[1]}], conditions: {ready: true}, nodeName: node-1}
- {addresses: [${BACKENDS[2]}], conditions: {ready: true}, nodeName: node-1}
YAML
}

# start_dataplane NETNS VDEV: k8c dataplane on lcore 1, backends' MACs given statically (the
# backends are addresses on the wire, not hosts: nothing would answer ARP for them). DP_ARGS
# adds flags (e.g. DP_ARGS="--idle-sleep-us 20").
start_dataplane() {
  local ns=$1 vdev=$2 neigh=()
  for i in 0 1 2; do neigh+=(--neighbour "${BACKENDS[$i]}=${BACKEND_MACS[$i]}"); done
  ip netns exec "$ns" "$K8C" dataplane --kubeconfig "$KUBECONFIG" --node-name node-1 \
    --node-ip $NODE_IP/24 "${neigh[@]}" --metrics 127.0.0.1:0 --log-level warn ${DP_ARGS:-} \
    --eal "-l 1 --no-pci --no-huge -m 256 --file-prefix $DP_PREFIX --vdev=$vdev" \
    >"$WORK/dp.out" 2>&1 &
  DP_PID=$!
  PIDS+=("$DP_PID")
  DP_NS=$ns
  wait_until 30 grep -q "metrics on http" "$WORK/dp.out" || { echo "data plane did not start:"; cat "$WORK/dp.out"; exit 1; }
  METRICS=$(sed -n 's|.*metrics on http://\([0-9.:]*\)/metrics.*|\1|p' "$WORK/dp.out" | tail -n 1)
  wait_until 30 table_ready || { echo "data plane has no service table:"; cat "$WORK/dp.out"; exit 1; }
}
metric() {  # metric NAME: the sum of its series
  ip netns exec "$DP_NS" curl -s --max-time 5 "http://$METRICS/metrics" |
    awk -v n="$1" '$1 ~ "^"n"({|$)" { s += $2 } END { printf "%.6f\n", s }'
}
table_ready() { [ "$(metric k8c_dataplane_backends | cut -d. -f1)" -ge 3 ]; }

# cpu1: "busy total" jiffies of CPU 1, where the load balancer under test runs.
cpu1() { awk '$1 == "cpu1" { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }

# run_gen NETNS VDEV OUT COUNTER: the generator on lcore 0, FLOWS source ports, SECONDS_RUN
# measured. Inside its measured window the load balancer's own forwarded-packet COUNTER (a
# command) and CPU 1's busy time are sampled too: LB_PPS and CPU1_BUSY.
run_gen() {
  local ns=$1 vdev=$2 out=$3 counter=$4 gen c0 c1 t0 t1 u0 u1
  ip netns exec "$ns" timeout $((SECONDS_RUN + 60)) "$GEN" \
    --eal "-l 0 --no-pci --no-huge -m 256 --file-prefix $GEN_PREFIX --vdev=$vdev" \
    --dst-mac $DP_MAC --src-ip $GEN_IP --vip $VIP --port 53 --flows "$FLOWS" \
    --warmup 1 --seconds "$SECONDS_RUN" >"$out" 2>"$out.err" &
  gen=$!
  PIDS+=("$gen")
  wait_until 60 grep -q '^measuring' "$out" || true
  sleep 0.2
  c0=$($counter) t0=$(date +%s.%N) u0=$(cpu1)
  sleep "$(awk -v s="$SECONDS_RUN" 'BEGIN { print (s > 1.5 ? s - 0.7 : s / 2) }')"
  c1=$($counter) t1=$(date +%s.%N) u1=$(cpu1)
  wait "$gen" || { echo "generator failed:"; cat "$out.err"; exit 1; }
  rm -rf "/var/run/dpdk/$GEN_PREFIX"
  LB_PPS=$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" 'BEGIN { split(a, x, " "); split(b, y, " ");
    printf "%.0f", (y[1] - x[1]) / (e - s) }')
  # A second figure from COUNTER is busy seconds (the data plane's own loop accounting).
  LB_BUSY=$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" 'BEGIN { split(a, x, " "); split(b, y, " ");
    printf "%s", (2 in y ? sprintf("%.0f%%", 100 * (y[2] - x[2]) / (e - s)) : "n/a") }')
  CPU1_BUSY=$(awk -v a="$u0" -v b="$u1" 'BEGIN { split(a, x, " "); split(b, y, " ");
    printf "%.0f%%", (y[2] > x[2] ? 100 * (y[1] - x[1]) / (y[2] - x[2]) : 0) }')
}
# Forwarded packets, and the seconds the polling lcore spent on bursts that carried packets
# (a data plane at 100% is the bottleneck; below that, the generator is).
dp_forwarded() {
  echo "$(metric k8c_dataplane_forwarded_packets_total) $(metric k8c_dataplane_lcore_busy_seconds_total)"
}
field() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }
