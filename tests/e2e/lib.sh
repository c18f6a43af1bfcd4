# Shared helpers for end-to-end tests: start a real `k8c server` on a temporary data directory
# and drive it with the real kubectl. Every test cleans up its processes and files on exit.
set -euo pipefail

K8C=${K8C:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/test/k8c}
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE_DIR=$(cd "$E2E_DIR/../.." && pwd)
WORK=$(mktemp -d /tmp/k8c-e2e.XXXXXX)
SERVER_PID=""
BACKGROUND_PIDS=()
PASSED=0
FAILED=0

cleanup() {
  for p in "${BACKGROUND_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "$SERVER_PID" ] && kill -9 "$SERVER_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

# start_server [extra flags]: starts k8c server on a free port in $WORK/data and waits until
# kubectl can reach it. Sets SERVER_PID, SERVER_URL and KUBECONFIG.
start_server() {
  mkdir -p "$WORK/data"
  "$K8C" server --data-dir "$WORK/data" --listen 127.0.0.1:${SERVER_PORT:-0} "$@" \
    >"$WORK/server.out" 2>"$WORK/server.err" &
  SERVER_PID=$!
  for _ in $(seq 1 600); do
    if grep -q "listening on" "$WORK/server.out" 2>/dev/null; then break; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "k8c server exited:"; cat "$WORK/server.err"; return 1
    fi
    sleep 0.1
  done
  SERVER_URL=$(sed -n 's/^k8c server listening on \(https:[^ ]*\).*/\1/p' "$WORK/server.out")
  SERVER_PORT=${SERVER_URL##*:}
  export KUBECONFIG="$WORK/data/admin.kubeconfig"
  if [ -z "$SERVER_URL" ]; then
    echo "k8c server did not report its address within 60s"; cat "$WORK/server.err"
    command -v gdb >/dev/null && gdb -p "$SERVER_PID" -batch -ex "thread apply all bt" 2>/dev/null | grep -E '^#|^Thread' | head -80
    return 1
  fi
}

stop_server() {
  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID" || true
  SERVER_PID=""
}

kill_server() {
  kill -KILL "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# curl with the admin client certificate, extracted from the data directory.
kcurl() {
  curl -sS --max-time 20 --cacert "$WORK/data/pki/ca.crt" --cert "$WORK/data/pki/admin.crt" \
    --key "$WORK/data/pki/admin.key" "$@"
}

pass() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "not ok - $*"; }

# check NAME COMMAND...: runs the command; passes when it exits 0.
check() {
  local name=$1; shift
  if "$@" >"$WORK/last.out" 2>&1; then pass "$name"; else fail "$name"; sed 's/^/    /' "$WORK/last.out" | head -20; fi
}

# expect_contains NAME NEEDLE COMMAND...: passes when the command's output contains NEEDLE.
expect_contains() {
  local name=$1 needle=$2; shift 2
  local out
  out=$("$@" 2>&1) || true
  if grep -qF -- "$needle" <<<"$out"; then pass "$name"; else
    fail "$name: expected '$needle' in:"; sed 's/^/    /' <<<"$out" | head -20; fi
}

expect_not_contains() {
  local name=$1 needle=$2; shift 2
  local out
  out=$("$@" 2>&1) || true
  if grep -qF -- "$needle" <<<"$out"; then fail "$name: did not expect '$needle' in:"; sed 's/^/    /' <<<"$out" | head -20; else pass "$name"; fi
}

expect_eq() {
  local name=$1 want=$2 got=$3
  if [ "$want" == "$got" ]; then pass "$name"; else fail "$name: want '$want', got '$got'"; fi
}

# wait_until TIMEOUT_S COMMAND...: retries until the command succeeds.
wait_until() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

finish() {
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
}

# kc_create NAME KEY=VALUE: a ConfigMap, through `kubectl create configmap` (a protobuf body).
kc_create() {
  local name=$1 kv=$2
  timeout 60 kubectl create configmap "$name" --from-literal="$kv"
}
