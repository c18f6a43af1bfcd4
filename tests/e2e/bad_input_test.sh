#!/usr/bin/env bash
# Acceptance: bad input gets the right Kubernetes Status and the server keeps serving.
source "$(dirname "$0")/lib.sh"
start_server
K() { timeout 60 kubectl "$@"; }
CM="$SERVER_URL/api/v1/namespaces/default/configmaps"
PODS="$SERVER_URL/api/v1/namespaces/default/pods"

# status_of METHOD URL BODY [content-type]: prints "<http code> <reason>"
status_of() {
  local out
  out=$(kcurl -w '\n%{http_code}' -X "$1" -H "Content-Type: ${4:-application/json}" "$2" --data-binary "$3")
  local code=${out##*$'\n'}
  local reason
  reason=$(sed '$d' <<<"$out" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("reason",""))' 2>/dev/null || echo "?")
  echo "$code $reason"
}
alive() { expect_contains "server still serving after $1" "default" K get namespaces; }

expect_eq "malformed JSON" "400 BadRequest" "$(status_of POST "$CM" '{"apiVersion": "v1", "kind": ')"
alive "malformed JSON"
expect_eq "malformed YAML" "400 BadRequest" "$(status_of POST "$CM" $'apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed' application/yaml)"
alive "malformed YAML"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n   bad: indent\n' >"$WORK/bad.yaml"
expect_contains "kubectl reports malformed YAML" "error" K apply -f "$WORK/bad.yaml"

expect_eq "unknown kind (resource)" "404 NotFound" "$(status_of POST "$SERVER_URL/api/v1/namespaces/default/widgets" '{"apiVersion":"v1","kind":"Widget","metadata":{"name":"w"}}')"
expect_eq "kind that does not match the endpoint" "400 BadRequest" "$(status_of POST "$CM" '{"apiVersion":"v1","kind":"Widget","metadata":{"name":"w"}}')"
printf 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n' >"$WORK/widget.yaml"
expect_contains "kubectl names the unknown kind" "no matches for kind \"Widget\"" K apply -f "$WORK/widget.yaml"
alive "unknown kind"

pod_no_image='{"apiVersion":"v1","kind":"Pod","metadata":{"name":"noimage"},"spec":{"containers":[{"name":"c"}]}}'
expect_eq "container without image" "422 Invalid" "$(status_of POST "$PODS" "$pod_no_image")"
expect_contains "the cause names the field" "spec.containers[0].image" kcurl -X POST -H 'Content-Type: application/json' "$PODS" -d "$pod_no_image"
expect_eq "name that is not DNS-1123" "422 Invalid" "$(status_of POST "$CM" '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}')"
expect_contains "kubectl shows the invalid name" "Invalid value" kc_create Bad_Name a=b
alive "invalid objects"

head -c $((3 * 1024 * 1024 + 100)) /dev/zero | tr '\0' 'a' >"$WORK/big"
big_code=$(kcurl -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' "$CM" --data-binary @"$WORK/big" || true)
expect_eq "body over 3 MiB" "413" "$big_code"
alive "an oversized body"

# A client that never finishes its headers is cut off, and others are served meanwhile.
python3 - "$SERVER_PORT" >"$WORK/slow.out" 2>&1 <<'PY' &
import socket, ssl, sys, time
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))))
s.sendall(b"GET /api HTTP/1.1\r\nHost: x\r\n")
start = time.time()
s.settimeout(60)
try:
    while True:
        s.sendall(b"X-Slow: 1\r\n")  # trickling must not extend the header deadline
        time.sleep(1)
        if time.time() - start > 55: print("still open"); break
except (OSError, ssl.SSLError):
    print("closed after %.0fs" % (time.time() - start))
PY
slow_pid=$!
BACKGROUND_PIDS+=($slow_pid)
sleep 1
alive "a slow client is connected"
wait "$slow_pid" || true
expect_contains "slow client is disconnected by the header deadline" "closed after" cat "$WORK/slow.out"

kc_create stale a=1 >/dev/null
old=$(kcurl "$CM/stale")
K patch configmap stale -p '{"data":{"a":"2"}}' >/dev/null
expect_eq "stale update" "409 Conflict" "$(status_of PUT "$CM/stale" "$old")"
alive "a stale update"

nocert=$(curl -sS --max-time 10 --cacert "$WORK/data/pki/ca.crt" -o /dev/null -w '%{http_code}' "$SERVER_URL/api/v1/namespaces" || true)
expect_eq "no client certificate" "401" "$nocert"
badtoken=$(curl -sS --max-time 10 --cacert "$WORK/data/pki/ca.crt" -H 'Authorization: Bearer nope' -o /dev/null -w '%{http_code}' "$SERVER_URL/api/v1/namespaces" || true)
expect_eq "unknown bearer token" "401" "$badtoken"
alive "unauthenticated requests"

finish
