#!/usr/bin/env bash
# Acceptance (issue 3, item 5): `k8c dataplane` rejects bad start-up input with a one-line error
# naming the problem and a non-zero exit, never a crash; and a good start on a null device
# runs its loop and exits 0. Only virtual devices are used, so no traffic leaves the process.
source "$(dirname "$0")/lib.sh"

# A file prefix of its own keeps this run's EAL runtime files apart from any other DPDK process
# on the machine (--in-memory would too, but DPDK refuses it together with --no-huge).
EAL_BASE="--no-pci --no-huge -m 256 --file-prefix k8c-e2e-$$"
trap 'rm -rf "/var/run/dpdk/k8c-e2e-$$"; cleanup' EXIT

# dataplane ARGS...: runs `k8c dataplane` bounded in time, stdout and stderr to $WORK/dp.out,
# and records its exit status in DP_RC.
dataplane() {
  DP_RC=0
  timeout 30 "$K8C" dataplane --node-name node-1 "$@" >"$WORK/dp.out" 2>&1 || DP_RC=$?
}

# expect_startup_error NAME NEEDLE ARGS...: the run fails with exit 1 (not a signal, not the
# timeout) and its last line is our error, containing NEEDLE.
expect_startup_error() {
  local name=$1 needle=$2; shift 2
  dataplane "$@"
  local last
  last=$(tail -n 1 "$WORK/dp.out")
  if [ "$DP_RC" -ne 1 ]; then
    fail "$name: exit status $DP_RC, want 1"; tail -n 5 "$WORK/dp.out" | sed 's/^/    /'
  elif [[ "$last" != "k8c dataplane: "*"$needle"* ]]; then
    fail "$name: last line should be the error naming '$needle', got: $last"
  else
    pass "$name"
  fi
}

expect_startup_error "unknown EAL flag" "unrecognized option '--bogus-flag'" \
  --eal "$EAL_BASE --vdev=net_null0 --bogus-flag" --duration 1
expect_startup_error "unbalanced quote in --eal" "unbalanced ' quote" \
  --eal "$EAL_BASE --vdev='net_null0" --duration 1
expect_startup_error "stray word in --eal" "unexpected argument 'stray'" \
  --eal "$EAL_BASE --vdev=net_null0 stray" --duration 1
expect_startup_error "port that does not exist" "--port-id 7: no such port (ports found: 0 net_null0)" \
  --eal "$EAL_BASE --vdev=net_null0" --port-id 7 --duration 1
expect_startup_error "vdev that cannot start" "vdev net_af_packet0 did not start" \
  --eal "$EAL_BASE --vdev=net_af_packet0,iface=does-not-exist" --duration 1
expect_startup_error "malformed --metrics" "--metrics must be HOST:PORT" \
  --eal "$EAL_BASE --vdev=net_null0" --metrics nonsense --duration 1
expect_startup_error "kubeconfig that does not exist" "cannot read kubeconfig" \
  --kubeconfig "$WORK/missing.kubeconfig" --eal "$EAL_BASE --vdev=net_null0" --duration 1
expect_startup_error "malformed --node-ip" "--node-ip 10.0.0.300: not an IPv4 address" \
  --node-ip 10.0.0.300 --eal "$EAL_BASE --vdev=net_null0" --duration 1
expect_startup_error "--kernel-port name with a comma" \
  "--kernel-port k8c,0: an interface name cannot contain ','" \
  --kernel-port k8c,0 --eal "$EAL_BASE --vdev=net_null0" --duration 1
expect_startup_error "--kernel-port name too long" "an interface name has 1 to 15 characters" \
  --kernel-port k8c-much-too-long-name --eal "$EAL_BASE --vdev=net_null0" --duration 1
expect_startup_error "malformed --neighbour" "want IP=MAC" \
  --neighbour 10.0.0.5=zz --eal "$EAL_BASE --vdev=net_null0" --duration 1

# An API server that cannot be reached (nothing listens on port 1): the data plane starts,
# polls with its empty table, says so, and keeps retrying until it is stopped.
cat >"$WORK/unreachable.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
EOF

# A good start, API server or not: the loop polls net_null0 (which hands out zero-filled frames as fast as it is
# asked), frees them as not ours with the empty service table, and stops after the duration.
dataplane --kubeconfig "$WORK/unreachable.kubeconfig" --eal "$EAL_BASE --vdev=net_null0" \
  --metrics 127.0.0.1:0 --duration 3
if [ "$DP_RC" -eq 0 ]; then pass "net_null0 for 3s exits 0"; else
  fail "net_null0 for 3s exited $DP_RC"; tail -n 10 "$WORK/dp.out" | sed 's/^/    /'; fi
expect_contains "announces the port and queues" "running on port 0 (net_null0) with 1 queue(s)" \
  cat "$WORK/dp.out"
rx=$(sed -n 's/^k8c dataplane stopped: rx \([0-9]*\),.*/\1/p' "$WORK/dp.out")
if [ "${rx:-0}" -gt 0 ]; then pass "the loop received frames ($rx)"; else
  fail "no frames received: $(tail -n 1 "$WORK/dp.out")"; fi
expect_contains "an unreachable API server is reported" "no service table from the API server" \
  cat "$WORK/dp.out"

# SIGTERM ends an open-ended run cleanly (ports stopped, EAL cleaned up, exit 0).
timeout 30 "$K8C" dataplane --node-name node-1 --eal "$EAL_BASE --vdev=net_null0" \
  >"$WORK/sig.out" 2>&1 &
pid=$!
BACKGROUND_PIDS+=("$pid")
if wait_until 20 grep -q "running on port" "$WORK/sig.out"; then
  kill -TERM "$pid"
  sig_rc=0
  wait "$pid" || sig_rc=$?
  expect_eq "SIGTERM exits 0" "0" "$sig_rc"
  expect_contains "SIGTERM is reported" "stopped on signal" cat "$WORK/sig.out"
else
  fail "open-ended run did not start"; tail -n 10 "$WORK/sig.out" | sed 's/^/    /'
fi

finish
