#!/usr/bin/env bash
# Acceptance: the real kubectl drives k8c server end to end.
source "$(dirname "$0")/lib.sh"
command -v kubectl >/dev/null || { echo "kubectl is required"; exit 1; }
echo "kubectl $(kubectl version --client 2>/dev/null | head -1)"
start_server
K() { timeout 60 kubectl "$@"; }
FIX="$E2E_DIR/fixtures"
MANIFESTS="$SOURCE_DIR/examples/manifests"

# -- apply a directory with one object of every kind --
check "apply -f examples/manifests" K apply -f "$MANIFESTS"
check "get -f examples/manifests finds every object" K get -f "$MANIFESTS"
count=$(grep -h '^kind:' "$MANIFESTS"/*.yaml | wc -l)
got=$(K get -f "$MANIFESTS" -o name | wc -l)
expect_eq "every applied object exists" "$count" "$got"

# -- get, with the columns Kubernetes prints --
header() { K get "$1" -A 2>&1 | head -1 | tr -s ' '; }
declare -A HEADERS=(
  [pods]="NAMESPACE NAME READY STATUS RESTARTS AGE"
  [services]="NAMESPACE NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE"
  [deployments]="NAMESPACE NAME READY UP-TO-DATE AVAILABLE AGE"
  [replicasets]="NAMESPACE NAME DESIRED CURRENT READY AGE"
  [statefulsets]="NAMESPACE NAME READY AGE"
  [daemonsets]="NAMESPACE NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE"
  [cronjobs]="NAMESPACE NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE"
  [configmaps]="NAMESPACE NAME DATA AGE"
  [secrets]="NAMESPACE NAME TYPE DATA AGE"
  [serviceaccounts]="NAMESPACE NAME SECRETS AGE"
  [endpoints]="NAMESPACE NAME ENDPOINTS AGE"
  [endpointslices]="NAMESPACE NAME ADDRESSTYPE PORTS ENDPOINTS AGE"
  [leases]="NAMESPACE NAME HOLDER AGE"
  [ingresses]="NAMESPACE NAME CLASS HOSTS ADDRESS PORTS AGE"
  [controllerrevisions]="NAMESPACE NAME CONTROLLER REVISION AGE"
  [persistentvolumeclaims]="NAMESPACE NAME STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS VOLUMEATTRIBUTESCLASS AGE"
  [namespaces]="NAME STATUS AGE"
  [nodes]="NAME STATUS ROLES AGE VERSION"
  [ingressclasses]="NAME CONTROLLER PARAMETERS AGE"
  [persistentvolumes]="NAME CAPACITY ACCESS MODES RECLAIM POLICY STATUS CLAIM STORAGECLASS VOLUMEATTRIBUTESCLASS REASON AGE"
)
for r in "${!HEADERS[@]}"; do
  expect_eq "get $r columns" "${HEADERS[$r]}" "$(header "$r")"
done
expect_contains "get jobs columns" "COMPLETIONS" K get jobs -A
expect_contains "get events columns" "REASON" K get events -A
expect_contains "get namespaces lists default" "default" K get namespaces

# -- get -o yaml, describe --
check "create settings configmap" K apply -f "$FIX/settings.yaml"
expect_contains "get -o yaml" "mode: blue" K get configmap settings -o yaml
expect_contains "get -o yaml has resourceVersion" "resourceVersion:" K get configmap settings -o yaml
check "apply web v1" K apply -f "$FIX/web-v1.yaml"
expect_contains "describe deployment" "Name:" K describe deployment web
expect_contains "describe deployment shows strategy" "RollingUpdate" K describe deployment web
expect_contains "describe configmap" "mode" K describe configmap settings
# kubectl before 1.25 describes CronJobs and EndpointSlices through their beta APIs, which
# Kubernetes 1.25 removed; k8c serves v1.32's versions, so it answers as Kubernetes does.
minor=$(kubectl version --client -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["minor"].rstrip("+"))')
for f in "$MANIFESTS"/*.yaml; do
  kind=$(sed -n 's/^kind: //p' "$f" | head -1)
  name=$(awk '/^metadata:/{m=1;next} m && /^  name:/{print $2; exit}' "$f")
  ns=$(awk '/^metadata:/{m=1;next} m && /^  namespace:/{print $2; exit}' "$f")
  [ -n "$kind" ] && [ -n "$name" ] || continue
  if [ "$minor" -lt 25 ] && { [ "$kind" = CronJob ] || [ "$kind" = EndpointSlice ]; }; then
    expect_contains "describe $kind/$name with kubectl 1.$minor: removed beta API" \
      "the server could not find the requested resource" K describe "$kind" "$name" ${ns:+-n "$ns"}
    continue
  fi
  expect_contains "describe $kind/$name" "$name" K describe "$kind" "$name" ${ns:+-n "$ns"}
done

# -- apply again: the three-way strategic merge removes the dropped env entry --
env_names() { K get deployment web -o jsonpath='{.spec.template.spec.containers[0].env[*].name}'; }
expect_eq "env before re-apply" "MODE LEGACY" "$(env_names)"
check "apply web v2" K apply -f "$FIX/web-v2.yaml"
expect_eq "env entry removed by three-way merge" "MODE" "$(env_names)"
expect_eq "generation moved with the spec" "2" "$(K get deployment web -o jsonpath='{.metadata.generation}')"

# -- edit through KUBE_EDITOR --
check "edit configmap" env KUBE_EDITOR="sed -i s/blue/green/" kubectl edit configmap settings
expect_eq "edit took effect" "green" "$(K get configmap settings -o jsonpath='{.data.mode}')"

# -- label, annotate, scale --
check "label" K label configmap settings tier=frontend
expect_eq "label stored" "frontend" "$(K get configmap settings -o jsonpath='{.metadata.labels.tier}')"
check "annotate" K annotate configmap settings owner=team-a
expect_eq "annotation stored" "team-a" "$(K get configmap settings -o jsonpath='{.metadata.annotations.owner}')"
check "scale" K scale deployment web --replicas=5
expect_eq "scale stored" "5" "$(K get deployment web -o jsonpath='{.spec.replicas}')"
expect_contains "get with label selector" "settings" K get configmaps -l tier=frontend
expect_not_contains "label selector filters" "settings" K get configmaps -l tier=backend

# -- diff: server-side dry run --
sed 's/blue/purple/' "$FIX/web-v2.yaml" >"$WORK/web-v3.yaml"
set +e
K diff -f "$WORK/web-v3.yaml" >"$WORK/diff.out" 2>&1
rc=$?
set -e
expect_eq "diff exits 1 when there are differences" "1" "$rc"
expect_contains "diff shows the change" "+          value: purple" cat "$WORK/diff.out"
expect_eq "diff wrote nothing" "MODE" "$(env_names)"
expect_eq "dry run left the value" "blue" "$(K get deployment web -o jsonpath='{.spec.template.spec.containers[0].env[0].value}')"

# -- get -w sees a change made by a second kubectl --
kubectl get configmaps -w >"$WORK/watch.out" 2>&1 &
BACKGROUND_PIDS+=($!)
sleep 1
check "create while watching" kc_create watched a=b
if wait_until 20 grep -q "^watched " "$WORK/watch.out"; then pass "get -w saw the new object"; else fail "get -w saw the new object"; cat "$WORK/watch.out"; fi

# -- wait --for=delete, delete by name and with -l --
K wait --for=delete configmap/watched --timeout=30s >"$WORK/wait.out" 2>&1 &
wait_pid=$!
sleep 1
check "delete by name" K delete configmap watched
if wait "$wait_pid"; then pass "wait --for=delete returned"; else fail "wait --for=delete returned"; cat "$WORK/wait.out"; fi
check "delete with -l" K delete configmaps,deployments -l suite=e2e
expect_contains "deleted objects are gone" "NotFound" K get configmap settings
expect_contains "deleted deployment is gone" "NotFound" K get deployment web

# -- garbage collection: deleting an owner (Background, kubectl's default) removes its dependents --
kc_create gc-owner role=owner >/dev/null
gc_uid=$(K get configmap gc-owner -o jsonpath='{.metadata.uid}')
printf '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"gc-child","ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"gc-owner","uid":"%s"}]},"data":{"role":"child"}}' \
  "$gc_uid" >"$WORK/gc-child.json"
check "apply a dependent of gc-owner" K apply -f "$WORK/gc-child.json"
expect_eq "dependent names its owner" "$gc_uid" "$(K get configmap gc-child -o jsonpath='{.metadata.ownerReferences[0].uid}')"
check "delete the owner" K delete configmap gc-owner
# Gone means NotFound, not any failure (a timed-out kubectl must not pass).
gc_child_gone() {
  local out
  out=$(K get configmap gc-child 2>&1) && return 1
  grep -q NotFound <<<"$out"
}
if wait_until 30 gc_child_gone; then pass "garbage collector deleted the dependent"; else fail "garbage collector deleted the dependent"; fi

finish
