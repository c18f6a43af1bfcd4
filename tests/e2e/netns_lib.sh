# Shared scaffolding for the data-plane end-to-end tests: network namespaces of the test's own
# around one bridge (in $LAN), each joined by a veth, and a `k8c server` in the node namespace.
# Source it after lib.sh. Everything it makes is removed on exit, with every process in it.
#
#   netns_test NAME SECONDS NS...   names the DPDK file prefix, arms teardown and a watchdog
#   netns_lan                       creates the namespaces and the bridge
#   port NS IFACE MAC PEER          a veth from NS to the bridge, offloads off, IPv6 off
#   start_api [PORT]                k8c server in $NODE on 127.0.0.1:PORT (0: any); kc runs kubectl there

command -v ethtool >/dev/null || { echo "ethtool is required (Debian package ethtool)"; exit 1; }
command -v python3 >/dev/null || { echo "python3 is required"; exit 1; }

ID=$$
NODE=k8c-node-$ID LAN=k8c-lan-$ID CLI=k8c-cli-$ID
NSES=()
PREFIX=""
DP_PID=""
WATCHDOG=""

netns_teardown() {
  # The watchdog's sleep goes too: it holds ctest's output pipe, and ctest waits for it.
  if [ -n "$WATCHDOG" ]; then
    pkill -P "$WATCHDOG" 2>/dev/null || true
    kill "$WATCHDOG" 2>/dev/null || true
  fi
  [ -n "$DP_PID" ] && kill -TERM "$DP_PID" 2>/dev/null || true
  for ns in "${NSES[@]}"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$p" 2>/dev/null || true; done
  done
  sleep 0.3
  for ns in "${NSES[@]}"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
  done
  for ns in "${NSES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  [ -n "$PREFIX" ] && rm -rf "/var/run/dpdk/$PREFIX"
  cleanup
}

netns_test() {
  local name=$1 seconds=$2
  shift 2
  NSES=("$@")
  PREFIX=k8c-$name-$ID
  trap netns_teardown EXIT
  # The whole scenario is bounded; a hang fails the test instead of stalling CI.
  ( sleep "$seconds" >/dev/null 2>&1; echo "$name test: timed out"; kill -TERM $ID ) &
  WATCHDOG=$!
}

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
offloads_off() { in_ns "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1 || true; }

netns_lan() {
  for ns in "${NSES[@]}"; do ip netns add "$ns"; in_ns "$ns" ip link set lo up; done
  in_ns "$LAN" ip link add br0 type bridge
  in_ns "$LAN" ip link set br0 up
}

port() {
  local ns=$1 ifc=$2 mac=$3 peer="p$4"
  ip link add "$ifc" netns "$ns" address "$mac" type veth peer name "$peer" netns "$LAN"
  in_ns "$LAN" ip link set "$peer" master br0 up
  offloads_off "$LAN" "$peer"
  in_ns "$ns" sysctl -qw "net.ipv6.conf.$ifc.disable_ipv6=1"
  offloads_off "$ns" "$ifc"
  in_ns "$ns" ip link set "$ifc" up
}

start_api() {
  mkdir -p "$WORK/data"
  : >"$WORK/server.out"
  ip netns exec "$NODE" "$K8C" server --data-dir "$WORK/data" --listen "127.0.0.1:${1:-0}" \
    >"$WORK/server.out" 2>>"$WORK/server.err" &
  SERVER_PID=$!
  wait_until 60 grep -q "listening on" "$WORK/server.out" || return 1
  export KUBECONFIG="$WORK/data/admin.kubeconfig"
}
kc() { in_ns "$NODE" timeout 60 kubectl "$@"; }
