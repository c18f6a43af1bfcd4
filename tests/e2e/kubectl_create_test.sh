#!/usr/bin/env bash
# kubectl's generators (create deployment|configmap|secret|service|..., expose) go through
# client-go's typed clients, which send protobuf bodies. Each one must create the object with
# the fields it asked for; the answers stay JSON.
source "$(dirname "$0")/lib.sh"
command -v kubectl >/dev/null || { echo "kubectl is required"; exit 1; }
echo "kubectl $(kubectl version --client 2>/dev/null | head -1)"
minor=$(kubectl version --client -o json 2>/dev/null |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["minor"].rstrip("+"))')
start_server
K() { timeout 60 kubectl "$@"; }
N=proto
J() { K get -n "$N" "$1" -o "jsonpath=$2"; }

# -- namespace, service account --
check "create namespace" K create namespace "$N"
expect_eq "namespace exists" "Active" "$(K get namespace "$N" -o jsonpath='{.status.phase}')"
check "create serviceaccount" K create serviceaccount sa -n "$N"
expect_eq "serviceaccount exists" "sa" "$(J serviceaccount/sa '{.metadata.name}')"

# -- deployments: replicas, image, ports; replicas 0 stays 0 (a pointer field set to zero) --
check "create deployment" K create deployment web -n "$N" --image=nginx:1.27 --replicas=3 --port=8000
expect_eq "deployment replicas" "3" "$(J deployment/web '{.spec.replicas}')"
expect_eq "deployment image" "nginx:1.27" "$(J deployment/web '{.spec.template.spec.containers[0].image}')"
expect_eq "deployment container name" "nginx" "$(J deployment/web '{.spec.template.spec.containers[0].name}')"
expect_eq "deployment containerPort" "8000" "$(J deployment/web '{.spec.template.spec.containers[0].ports[0].containerPort}')"
expect_eq "deployment selector" "web" "$(J deployment/web '{.spec.selector.matchLabels.app}')"
expect_eq "deployment template labels" "web" "$(J deployment/web '{.spec.template.metadata.labels.app}')"
expect_eq "deployment strategy defaulted" "RollingUpdate" "$(J deployment/web '{.spec.strategy.type}')"
check "create deployment --replicas=0" K create deployment idle -n "$N" --image=nginx --replicas=0
expect_eq "replicas 0 kept" "0" "$(J deployment/idle '{.spec.replicas}')"
check "create deployment with command" K create deployment cmd -n "$N" --image=busybox -- sleep 3600
expect_eq "deployment command" "sleep 3600" "$(J deployment/cmd '{.spec.template.spec.containers[0].command[*]}')"
expect_contains "create -o json answers JSON" '"kind": "Deployment"' \
  K create deployment json -n "$N" --image=nginx -o json
check "create --dry-run=server" K create deployment dry -n "$N" --image=nginx --dry-run=server
expect_contains "dry run stored nothing" "NotFound" K get deployment dry -n "$N"

# -- errors come back as JSON Status that kubectl prints --
expect_contains "create existing is AlreadyExists" 'deployments.apps "web" already exists' \
  K create deployment web -n "$N" --image=nginx
expect_contains "invalid name is Invalid" "Invalid value" K create configmap Bad_Name -n "$N" --from-literal=a=b
expect_contains "missing namespace is NotFound" 'namespaces "nope" not found' \
  K create serviceaccount sa -n nope

# -- configmaps and secrets: values decoded exactly --
check "create configmap" K create configmap c -n "$N" --from-literal=a=b --from-literal=greeting='hello, wörld' \
  --from-literal=empty=
expect_eq "configmap a" "b" "$(J configmap/c '{.data.a}')"
expect_eq "configmap utf-8 value" "hello, wörld" "$(J configmap/c '{.data.greeting}')"
expect_eq "configmap empty value" "true" "$(K get configmap c -n "$N" -o json | python3 -c 'import json,sys; print(str(json.load(sys.stdin)["data"]["empty"] == "").lower())')"
printf '\x00\x01binary\xff' >"$WORK/blob"
check "create configmap --from-file (binaryData)" K create configmap bin -n "$N" --from-file=blob="$WORK/blob"
expect_eq "binaryData round-trips" "$(base64 -w0 <"$WORK/blob")" "$(J configmap/bin '{.binaryData.blob}')"

check "create secret generic" K create secret generic s -n "$N" --from-literal=a=b --from-literal=pw='p@ss w0rd!'
expect_eq "secret a" "b" "$(J secret/s '{.data.a}' | base64 -d)"
expect_eq "secret pw" "p@ss w0rd!" "$(J secret/s '{.data.pw}' | base64 -d)"
expect_eq "secret type" "Opaque" "$(J secret/s '{.type}')"

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=proto.example.com" \
  -keyout "$WORK/tls.key" -out "$WORK/tls.crt" >/dev/null 2>&1
check "create secret tls" K create secret tls t -n "$N" --cert="$WORK/tls.crt" --key="$WORK/tls.key"
expect_eq "tls secret type" "kubernetes.io/tls" "$(J secret/t '{.type}')"
expect_eq "tls.crt round-trips" "$(cat "$WORK/tls.crt")" "$(J secret/t '{.data.tls\.crt}' | base64 -d)"
expect_eq "tls.key round-trips" "$(cat "$WORK/tls.key")" "$(J secret/t '{.data.tls\.key}' | base64 -d)"
check "create secret docker-registry" K create secret docker-registry reg -n "$N" \
  --docker-server=registry.example.com --docker-username=u --docker-password=p
expect_contains "dockerconfigjson" "registry.example.com" \
  bash -c "kubectl get secret reg -n $N -o jsonpath='{.data.\.dockerconfigjson}' | base64 -d"

# -- services: ports, targetPort as number and as name, nodePort, type --
check "create service clusterip" K create service clusterip svc-c -n "$N" --tcp=80:8080
expect_eq "clusterip type" "ClusterIP" "$(J service/svc-c '{.spec.type}')"
expect_eq "clusterip port" "80" "$(J service/svc-c '{.spec.ports[0].port}')"
expect_eq "clusterip targetPort" "8080" "$(J service/svc-c '{.spec.ports[0].targetPort}')"
expect_eq "clusterip protocol" "TCP" "$(J service/svc-c '{.spec.ports[0].protocol}')"
expect_eq "clusterip selector" "svc-c" "$(J service/svc-c '{.spec.selector.app}')"
check "clusterIP allocated" test -n "$(J service/svc-c '{.spec.clusterIP}')"
check "create service clusterip None" K create service clusterip headless -n "$N" --clusterip=None
expect_eq "headless clusterIP" "None" "$(J service/headless '{.spec.clusterIP}')"
check "create service nodeport" K create service nodeport svc-n -n "$N" --tcp=80:8080 --node-port=30080
expect_eq "nodeport type" "NodePort" "$(J service/svc-n '{.spec.type}')"
expect_eq "nodePort" "30080" "$(J service/svc-n '{.spec.ports[0].nodePort}')"
check "create service loadbalancer" K create service loadbalancer svc-lb -n "$N" --tcp=443:https
expect_eq "loadbalancer type" "LoadBalancer" "$(J service/svc-lb '{.spec.type}')"
expect_eq "named targetPort" "https" "$(J service/svc-lb '{.spec.ports[0].targetPort}')"
check "loadbalancer nodePort allocated" test -n "$(J service/svc-lb '{.spec.ports[0].nodePort}')"
check "create service externalname" K create service externalname ext -n "$N" --external-name=example.com
expect_eq "externalName" "example.com" "$(J service/ext '{.spec.externalName}')"

check "expose deployment" K expose deployment web -n "$N" --port=80 --target-port=8000
expect_eq "exposed port" "80" "$(J service/web '{.spec.ports[0].port}')"
expect_eq "exposed targetPort" "8000" "$(J service/web '{.spec.ports[0].targetPort}')"
expect_eq "exposed selector" "web" "$(J service/web '{.spec.selector.app}')"

# -- jobs and cronjobs --
check "create job" K create job j -n "$N" --image=busybox -- echo hi
expect_eq "job image" "busybox" "$(J job/j '{.spec.template.spec.containers[0].image}')"
expect_eq "job command" "echo hi" "$(J job/j '{.spec.template.spec.containers[0].command[*]}')"
expect_eq "job restartPolicy" "Never" "$(J job/j '{.spec.template.spec.restartPolicy}')"
if [ "$minor" -ge 21 ]; then
  # kubectl before 1.21 creates CronJobs as batch/v1beta1, which Kubernetes 1.25 removed.
  check "create cronjob" K create cronjob cj -n "$N" --image=busybox --schedule='*/5 * * * *' -- date
  expect_eq "cronjob schedule" "*/5 * * * *" "$(J cronjob/cj '{.spec.schedule}')"
  expect_eq "cronjob image" "busybox" "$(J cronjob/cj '{.spec.jobTemplate.spec.template.spec.containers[0].image}')"
  expect_eq "cronjob restartPolicy" "OnFailure" "$(J cronjob/cj '{.spec.jobTemplate.spec.template.spec.restartPolicy}')"
  check "create job --from=cronjob" K create job from-cj -n "$N" --from=cronjob/cj
  expect_eq "job from cronjob owner" "cj" "$(J job/from-cj '{.metadata.ownerReferences[0].name}')"
  expect_eq "job from cronjob annotation" "manual" "$(J job/from-cj '{.metadata.annotations.cronjob\.kubernetes\.io/instantiate}')"
fi

# -- ingress: rules, the inline rule value, path types, TLS, class --
check "create ingress" K create ingress ing -n "$N" --class=k8c \
  --rule="foo.example.com/bar*=svc-c:80,tls=t" --rule="foo.example.com/exact=web:http"
expect_eq "ingress class" "k8c" "$(J ingress/ing '{.spec.ingressClassName}')"
expect_eq "ingress host" "foo.example.com" "$(J ingress/ing '{.spec.rules[0].host}')"
expect_eq "ingress paths" "/bar Prefix /exact Exact" \
  "$(J ingress/ing '{range .spec.rules[0].http.paths[*]}{.path} {.pathType} {end}' | sed 's/ $//')"
expect_eq "ingress backend port number" "80" "$(J ingress/ing '{.spec.rules[0].http.paths[0].backend.service.port.number}')"
expect_eq "ingress backend port name" "http" "$(J ingress/ing '{.spec.rules[0].http.paths[1].backend.service.port.name}')"
expect_eq "ingress tls" "t foo.example.com" "$(J ingress/ing '{.spec.tls[0].secretName} {.spec.tls[0].hosts[0]}')"

# -- kubectl run (a Pod) --
check "run" K run pod1 -n "$N" --image=busybox --port=8080 --labels=app=p,tier=t --env=A=B -- sleep 60
expect_eq "run image" "busybox" "$(J pod/pod1 '{.spec.containers[0].image}')"
expect_eq "run env" "A=B" "$(J pod/pod1 '{.spec.containers[0].env[0].name}={.spec.containers[0].env[0].value}')"
expect_eq "run port" "8080" "$(J pod/pod1 '{.spec.containers[0].ports[0].containerPort}')"
expect_eq "run labels" "p t" "$(J pod/pod1 '{.metadata.labels.app} {.metadata.labels.tier}')"
expect_eq "run args" "sleep 60" "$(J pod/pod1 '{.spec.containers[0].args[*]}')"

# -- the protobuf path admits exactly what the JSON path admits: each generator's object is
# created once from protobuf (kubectl create) and once from the JSON kubectl would write
# (--dry-run=client -o json, then create -f), and read back the same. (Read back with get, not
# from create's answer: an older kubectl prints that through its own, older, types.) --
normalize() {
  python3 -c '
import json, sys
try:
    o = json.load(sys.stdin)
except ValueError:
    sys.exit(0)  # kubectl failed and said why on stderr
m = o.get("metadata", {})
uid = m.pop("uid", None) or "-"  # Jobs also carry it in labels and the selector
for k in ("creationTimestamp", "resourceVersion", "managedFields"):
    m.pop(k, None)
spec = o.get("spec", {})
for k in ("clusterIP", "clusterIPs"):  # allocated per request
    spec.pop(k, None)
for p in spec.get("ports", []) if isinstance(spec.get("ports"), list) else []:
    p.pop("nodePort", None)
print(json.dumps(o, sort_keys=True).replace(uid, "UID"))'
}
same_as_json() {  # same_as_json NAME ARGS...: kubectl create ARGS
  local name=$1; shift
  local a="" b="" ref
  # Flags go first: after "--" everything is the container's command.
  if ref=$(K create -n "$N" -o name "$@"); then
    a=$(K get -n "$N" -o json "$ref" | normalize)
    K delete -n "$N" "$ref" >/dev/null
  fi
  if ref=$(K create -n "$N" --dry-run=client -o json "$@" | K create -n "$N" -o name -f -); then
    b=$(K get -n "$N" -o json "$ref" | normalize)
    K delete -n "$N" "$ref" >/dev/null
  fi
  if [ -n "$a" ] && [ "$a" == "$b" ]; then pass "$name: protobuf == JSON"; else
    fail "$name: protobuf and JSON differ"; diff <(tr ',' '\n' <<<"$a") <(tr ',' '\n' <<<"$b") | head -20; fi
}
same_as_json "deployment" deployment eq-d --image=nginx:1.27 --replicas=2 --port=80
same_as_json "deployment replicas 0" deployment eq-z --image=nginx --replicas=0
same_as_json "configmap" configmap eq-c --from-literal=a=b --from-literal=e= --from-file=blob="$WORK/blob"
same_as_json "secret generic" secret generic eq-s --from-literal=a=b
same_as_json "secret tls" secret tls eq-t --cert="$WORK/tls.crt" --key="$WORK/tls.key"
same_as_json "service clusterip" service clusterip eq-sc --tcp=80:8080 --tcp=443:https
same_as_json "service nodeport" service nodeport eq-sn --tcp=80:8080
same_as_json "service loadbalancer" service loadbalancer eq-sl --tcp=80:8080
same_as_json "job" job eq-j --image=busybox -- echo hi
[ "$minor" -ge 21 ] && same_as_json "cronjob" cronjob eq-cj --image=busybox --schedule='0 * * * *' -- date
same_as_json "ingress" ingress eq-i --class=k8c --rule="foo.example.com/bar*=svc-c:80,tls=t" \
  --default-backend=web:80
same_as_json "serviceaccount" serviceaccount eq-sa

# -- the same content checks through the raw API: bad bodies are 400s, unknown fields follow
# fieldValidation --
pb() {  # pb FIELD_HEX...: a ConfigMap named pb-<n> in protobuf with extra raw fields appended
  python3 - "$@" <<'EOF'
import sys
def v(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n: return out
def ld(num, data): return v(num << 3 | 2) + v(len(data)) + data
name = sys.argv[1].encode()
raw = ld(1, ld(1, name)) + ld(2, ld(1, b"k") + ld(2, b"v")) + bytes.fromhex("".join(sys.argv[2:]))
body = b"k8s\0" + ld(1, ld(1, b"v1") + ld(2, b"ConfigMap")) + ld(2, raw)
sys.stdout.buffer.write(body)
EOF
}
post() {  # post QUERY FILE: the HTTP status and body of a protobuf POST
  kcurl -X POST -H 'Content-Type: application/vnd.kubernetes.protobuf' -H 'Accept: application/json' \
    --data-binary "@$2" -D "$WORK/headers" -w '\n%{http_code}' "$SERVER_URL/api/v1/namespaces/$N/configmaps$1"
}
pb pb-ok >"$WORK/ok.pb"
expect_contains "raw protobuf POST answers 201" "201" post "" "$WORK/ok.pb"
expect_eq "raw protobuf POST stored data" "v" "$(J configmap/pb-ok '{.data.k}')"
grep -qi '^content-type: application/json' "$WORK/headers" && pass "answer is JSON" || fail "answer is JSON"
pb pb-strict 9806 01 >"$WORK/unknown.pb"  # field 99, varint 1
expect_contains "unknown field with Strict is 400" 'unknown protobuf field 99 of k8s.io.api.core.v1.ConfigMap' \
  post "?fieldValidation=Strict" "$WORK/unknown.pb"
pb pb-warn 9806 01 >"$WORK/unknown.pb"
post "?fieldValidation=Warn" "$WORK/unknown.pb" >/dev/null
grep -qi '^warning: .*unknown protobuf field 99' "$WORK/headers" && pass "unknown field with Warn warns" ||
  fail "unknown field with Warn warns"
expect_eq "Warn still creates" "v" "$(J configmap/pb-warn '{.data.k}')"
pb pb-bad 12ff01 >"$WORK/bad.pb"  # field 2 claiming 255 bytes
expect_contains "truncated body is 400" "runs past the end" post "" "$WORK/bad.pb"
printf 'k8z\0junk' >"$WORK/magic.pb"
expect_contains "bad magic is 400" 'magic' post "" "$WORK/magic.pb"
check "server still up" K get namespace "$N"

K delete namespace "$N" --wait=false >/dev/null 2>&1 || true
finish
