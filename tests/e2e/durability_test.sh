#!/usr/bin/env bash
# Acceptance: objects and their resourceVersions survive a restart, and every acknowledged
# write survives a SIGKILL in the middle of a stream of writes.
source "$(dirname "$0")/lib.sh"
start_server
K() { timeout 60 kubectl "$@"; }

for i in $(seq 1 20); do
  kc_create "keep-$i" i="$i" >/dev/null
done
printf "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: durable\n" | K apply -f - >/dev/null
printf "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: durable\nstringData:\n  password: s3cret\n" | K apply -f - >/dev/null
snapshot() {
  K get configmaps,secrets -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}={.metadata.resourceVersion}/{.metadata.uid}{"\n"}{end}' | sort
}
before=$(snapshot)

stop_server
start_server
after=$(snapshot)
expect_eq "objects and resourceVersions survive a restart" "$before" "$after"
expect_eq "secret data survives" "s3cret" "$(K -n durable get secret creds -o jsonpath='{.data.password}' | base64 -d)"

# Four writers post ConfigMaps as fast as they can and log every acknowledged (201) name.
writer() {
  local id=$1
  for n in $(seq 1 100000); do
    local name="ack-$id-$n"
    code=$(kcurl -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
      "$SERVER_URL/api/v1/namespaces/default/configmaps" \
      -d "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"$name\"},\"data\":{\"n\":\"$n\"}}" 2>/dev/null) || break
    [ "$code" = "201" ] && echo "$name" >>"$WORK/acked-$id"
  done
}
for id in 1 2 3 4; do writer $id & BACKGROUND_PIDS+=($!); done
wait_until 30 bash -c "cat $WORK/acked-* 2>/dev/null | wc -l | awk '{exit !(\$1 >= 200)}'"
kill_server
for p in "${BACKGROUND_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
BACKGROUND_PIDS=()
acked=$(cat "$WORK"/acked-* | sort -u)
echo "acknowledged before SIGKILL: $(wc -l <<<"$acked")"

start_server
present=$(K get configmaps -o name | sed 's|configmap/||' | sort -u)
missing=$(comm -23 <(echo "$acked") <(echo "$present"))
expect_eq "every acknowledged write is present after SIGKILL" "" "$missing"
expect_eq "earlier objects still present after SIGKILL" "$before" "$(snapshot | grep -v '/ack-')"
check "server keeps serving writes after recovery" kc_create after-crash a=b

finish
