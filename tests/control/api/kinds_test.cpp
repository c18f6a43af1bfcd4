#include "control/api/kinds.h"
#include "control/api/object.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

namespace k8c::api {
namespace {

namespace fs = std::filesystem;

const Kind& kind_of(std::string_view api_version, std::string_view kind) {
  const Kind* k = find_by_api_version(api_version, kind);
  if (!k) throw std::runtime_error("no kind " + std::string(kind));
  return *k;
}

Json yaml(const std::string& text) {
  std::string err;
  auto docs = parse_yaml_documents(text, &err);
  if (!docs || docs->size() != 1) throw std::runtime_error("bad yaml: " + err);
  return (*docs)[0];
}

// Defaults an object as the apiserver does before storing it.
Json defaulted(Json o) {
  const Kind& k = kind_of(o["apiVersion"].get<std::string>(), o["kind"].get<std::string>());
  if (k.namespaced && !o["metadata"].contains("namespace")) o["metadata"]["namespace"] = "default";
  apply_defaults(k, o);
  return o;
}

FieldErrors errors_of(const Json& o, const Json* old = nullptr) {
  return validate(kind_of(o["apiVersion"].get<std::string>(), o["kind"].get<std::string>()), o,
                  old);
}

std::string describe(const FieldErrors& errs) {
  std::string out;
  for (const auto& e : errs) out += e.field + ": " + e.message + "\n";
  return out;
}

std::optional<FieldError> find_error(const FieldErrors& errs, const std::string& field) {
  for (const auto& e : errs)
    if (e.field == field) return e;
  return std::nullopt;
}

Json cell(const Json& o, const std::string& column) {
  const Kind& k = kind_of(o["apiVersion"].get<std::string>(), o["kind"].get<std::string>());
  for (const auto& c : k.columns)
    if (c.name == column) return c.cell(o);
  throw std::runtime_error("no column " + column);
}

const char* kPod = R"(
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: default, labels: {app: web}}
spec:
  containers:
    - name: a
      image: busybox
      ports: [{containerPort: 80}]
      livenessProbe: {httpGet: {port: 80}}
    - {name: b, image: "busybox:latest"}
    - {name: c, image: "busybox:1.36"}
    - {name: d, image: "registry.local:5000/busybox"}
    - {name: e, image: "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
    - {name: f, image: busybox, imagePullPolicy: Never}
  volumes:
    - {name: cfg, configMap: {name: x}}
    - {name: sec, secret: {secretName: y}}
)";

const char* kDeployment = R"(
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "busybox:1.36"}]
)";

// ---- registry -----------------------------------------------------------------------------

TEST(KindsRegistry, ServesEveryKindOnce) {
  const auto& kinds = all_kinds();
  EXPECT_EQ(kinds.size(), 22u);
  std::set<std::string> seen;
  for (const auto& k : kinds) {
    EXPECT_TRUE(seen.insert(k.group + "/" + k.plural).second) << k.plural;
    EXPECT_EQ(k.version, "v1");
    ASSERT_TRUE(k.schema) << k.kind;
    EXPECT_TRUE(k.schema->property("metadata")) << k.kind;
    ASSERT_FALSE(k.columns.empty()) << k.kind;
    bool has_age = false;
    for (const auto& c : k.columns) has_age = has_age || c.name == "Age";
    EXPECT_EQ(has_age, k.kind != "Event") << k.kind;  // events print Last Seen / First Seen
  }
  EXPECT_EQ(kinds.front().group, "");  // core first
}

TEST(KindsRegistry, Lookups) {
  const Kind* pod = find_by_resource("", "v1", "pods");
  ASSERT_NE(pod, nullptr);
  EXPECT_EQ(pod->kind, "Pod");
  EXPECT_EQ(pod->singular, "pod");
  EXPECT_EQ(pod->api_version(), "v1");
  EXPECT_EQ(find_by_kind("apps", "v1", "Deployment"),
            find_by_resource("apps", "v1", "deployments"));
  EXPECT_EQ(find_by_api_version("apps/v1", "Deployment")->plural, "deployments");
  EXPECT_EQ(find_by_api_version("v1", "Endpoints")->singular, "endpoints");
  EXPECT_EQ(find_by_api_version("networking.k8s.io/v1", "IngressClass")->namespaced, false);
  EXPECT_EQ(find_by_api_version("discovery.k8s.io/v1", "EndpointSlice")->plural, "endpointslices");
  EXPECT_EQ(find_by_api_version("coordination.k8s.io/v1", "Lease")->plural, "leases");
  EXPECT_EQ(find_by_api_version("batch/v1", "CronJob")->short_names,
            std::vector<std::string>{"cj"});
  EXPECT_EQ(find_by_api_version("apps/v2", "Deployment"), nullptr);
  EXPECT_EQ(find_by_api_version("v1", "Deployment"), nullptr);
  EXPECT_EQ(find_by_resource("", "v1", "nope"), nullptr);
}

TEST(KindsRegistry, ShortNamesCategoriesAndSubresources) {
  std::map<std::string, std::string> short_names = {{"pods", "po"},
                                                    {"services", "svc"},
                                                    {"deployments", "deploy"},
                                                    {"replicasets", "rs"},
                                                    {"statefulsets", "sts"},
                                                    {"daemonsets", "ds"},
                                                    {"cronjobs", "cj"},
                                                    {"ingresses", "ing"},
                                                    {"configmaps", "cm"},
                                                    {"namespaces", "ns"},
                                                    {"nodes", "no"},
                                                    {"persistentvolumes", "pv"},
                                                    {"persistentvolumeclaims", "pvc"},
                                                    {"serviceaccounts", "sa"},
                                                    {"endpoints", "ep"},
                                                    {"events", "ev"}};
  std::set<std::string> all = {"pods",         "services",   "deployments", "replicasets",
                               "statefulsets", "daemonsets", "jobs",        "cronjobs"};
  std::set<std::string> with_status = {"pods",
                                       "services",
                                       "nodes",
                                       "namespaces",
                                       "persistentvolumes",
                                       "persistentvolumeclaims",
                                       "deployments",
                                       "replicasets",
                                       "statefulsets",
                                       "daemonsets",
                                       "jobs",
                                       "cronjobs",
                                       "ingresses"};
  for (const auto& k : all_kinds()) {
    auto it = short_names.find(k.plural);
    if (it != short_names.end()) {
      EXPECT_EQ(k.short_names, std::vector<std::string>{it->second}) << k.plural;
    } else {
      EXPECT_TRUE(k.short_names.empty()) << k.plural;
    }
    bool in_all = std::find(k.categories.begin(), k.categories.end(), "all") != k.categories.end();
    EXPECT_EQ(in_all, all.count(k.plural) > 0) << k.plural;
    EXPECT_EQ(k.has_status, with_status.count(k.plural) > 0) << k.plural;
    bool scalable =
        k.plural == "deployments" || k.plural == "replicasets" || k.plural == "statefulsets";
    EXPECT_EQ(k.scale_replicas_path.empty(), !scalable) << k.plural;
    if (scalable) {
      EXPECT_EQ(k.scale_replicas_path, "spec.replicas");
      EXPECT_EQ(k.scale_status_replicas_path, "status.replicas");
      EXPECT_EQ(k.scale_selector_path, "spec.selector");
    }
  }
  auto fields = find_by_resource("", "v1", "pods")->field_selectors;
  EXPECT_NE(std::find(fields.begin(), fields.end(), "spec.nodeName"), fields.end());
  EXPECT_NE(std::find(fields.begin(), fields.end(), "status.phase"), fields.end());
  EXPECT_EQ(find_by_resource("", "v1", "secrets")->field_selectors,
            std::vector<std::string>{"type"});
}

TEST(KindsSchema, StrategicMergeMetadata) {
  const Schema& pod = *find_by_resource("", "v1", "pods")->schema;
  const Schema& spec = **pod.property("spec");
  const Schema& containers = **spec.property("containers");
  EXPECT_EQ(containers.patch_merge_key, "name");
  EXPECT_EQ(containers.items->name, "io.k8s.api.core.v1.Container");
  const Schema& ports = **containers.items->property("ports");
  EXPECT_EQ(ports.patch_merge_key, "containerPort");
  EXPECT_EQ(ports.list_map_keys, (std::vector<std::string>{"containerPort", "protocol"}));
  EXPECT_EQ((*spec.property("volumes"))->patch_strategy, "merge,retainKeys");
  EXPECT_EQ((*containers.items->property("volumeMounts"))->patch_merge_key, "mountPath");
  EXPECT_EQ((*containers.items->property("env"))->patch_merge_key, "name");
  const Schema& meta = **pod.property("metadata");
  EXPECT_EQ((*meta.property("ownerReferences"))->patch_merge_key, "uid");
  EXPECT_EQ((*meta.property("finalizers"))->list_type, "set");
  const Schema& tsc = **spec.property("topologySpreadConstraints");
  EXPECT_EQ(tsc.list_map_keys, (std::vector<std::string>{"topologyKey", "whenUnsatisfiable"}));
  const Schema& deploy = **find_by_resource("apps", "v1", "deployments")->schema->property("spec");
  EXPECT_EQ((*deploy.property("strategy"))->patch_strategy, "retainKeys");
  EXPECT_EQ((*(*deploy.property("template"))->property("spec"))->name,
            "io.k8s.api.core.v1.PodSpec");
  const Schema& svc = **find_by_resource("", "v1", "services")->schema->property("spec");
  EXPECT_EQ((*svc.property("ports"))->list_map_keys,
            (std::vector<std::string>{"port", "protocol"}));
}

// Every OpenAPI definition name stands for one shape: nodes that share a name declare the
// same properties of the same types.
void collect_definitions(const Schema& s, std::map<std::string, std::string>& shapes,
                         std::set<const Schema*>& seen) {
  if (!seen.insert(&s).second) return;
  if (!s.name.empty()) {
    std::string shape;
    for (const auto& [k, v] : s.properties) shape += k + ":" + std::to_string(int(v->type)) + ",";
    auto [it, fresh] = shapes.emplace(s.name, shape);
    EXPECT_TRUE(fresh || it->second == shape) << s.name;
  }
  for (const auto& [k, v] : s.properties) collect_definitions(*v, shapes, seen);
  if (s.items) collect_definitions(*s.items, shapes, seen);
}

TEST(KindsSchema, DefinitionNamesAreConsistent) {
  std::map<std::string, std::string> shapes;
  std::set<const Schema*> seen;
  for (const auto& k : all_kinds()) {
    EXPECT_FALSE(k.schema->name.empty()) << k.kind;
    collect_definitions(*k.schema, shapes, seen);
  }
  EXPECT_TRUE(shapes.count("io.k8s.api.core.v1.PodTemplateSpec"));
  EXPECT_TRUE(shapes.count("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
  EXPECT_TRUE(shapes.count("io.k8s.api.core.v1.Volume"));
  EXPECT_GT(shapes.size(), 100u);
}

// ---- the example manifests ------------------------------------------------------------------

TEST(KindsManifests, EveryExampleDefaultsPrunesNothingAndValidates) {
  fs::path dir = fs::path(K8C_SOURCE_DIR) / "examples" / "manifests";
  std::set<std::string> kinds_seen;
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    ++files;
    SCOPED_TRACE(entry.path().filename().string());
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    std::string err;
    auto docs = parse_yaml_documents(text.str(), &err);
    ASSERT_TRUE(docs) << err;
    for (Json o : *docs) {
      const Kind* k = find_by_api_version(o.value("apiVersion", ""), o.value("kind", ""));
      ASSERT_NE(k, nullptr) << o.value("kind", "");
      kinds_seen.insert(k->kind);
      std::vector<std::string> unknown;
      prune(*k->schema, o, &unknown);
      EXPECT_TRUE(unknown.empty()) << unknown.front();
      o = defaulted(o);
      unknown.clear();
      prune(*k->schema, o, &unknown);
      EXPECT_TRUE(unknown.empty()) << "defaults added " << unknown.front();
      FieldErrors errs = validate(*k, o, nullptr);
      EXPECT_TRUE(errs.empty()) << describe(errs);
      // Revalidating the stored object as an update of itself passes too.
      errs = validate(*k, o, &o);
      EXPECT_TRUE(errs.empty()) << describe(errs);
      for (const auto& c : k->columns) EXPECT_FALSE(c.cell(o).is_null()) << c.name;
    }
  }
  EXPECT_GE(files, 25u);
  EXPECT_EQ(kinds_seen.size(), all_kinds().size());
}

TEST(KindsManifests, KubectlGeneratedObjectsDecode) {
  // What `kubectl create deployment x --image=busybox --dry-run=client -o yaml` sends.
  Json d = yaml(R"(
apiVersion: apps/v1
kind: Deployment
metadata:
  creationTimestamp: null
  labels: {app: x}
  name: x
spec:
  replicas: 1
  selector: {matchLabels: {app: x}}
  strategy: {}
  template:
    metadata:
      creationTimestamp: null
      labels: {app: x}
    spec:
      containers:
      - image: busybox
        name: busybox
        resources: {}
status: {}
)");
  std::vector<std::string> unknown;
  prune(*kind_of("apps/v1", "Deployment").schema, d, &unknown);
  EXPECT_TRUE(unknown.empty());
  d["metadata"].erase("creationTimestamp");  // the apiserver sets it
  d = defaulted(d);
  EXPECT_EQ(d["spec"]["strategy"]["type"], "RollingUpdate");
  FieldErrors errs = errors_of(d);
  EXPECT_TRUE(errs.empty()) << describe(errs);
}

TEST(KindsFieldSelectors, ValuesThatAreNotPlainPaths) {
  auto value = [](const Json& o, const std::string& field) {
    const Kind& k = kind_of(o["apiVersion"].get<std::string>(), o["kind"].get<std::string>());
    EXPECT_NE(std::find(k.field_selectors.begin(), k.field_selectors.end(), field),
              k.field_selectors.end());
    EXPECT_TRUE(k.field_value);
    return k.field_value(o, field);
  };
  Json job = yaml("apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\n");
  EXPECT_EQ(value(job, "status.successful"), "0");
  job["status"]["succeeded"] = 3;
  EXPECT_EQ(value(job, "status.successful"), "3");
  Json node = yaml("apiVersion: v1\nkind: Node\nmetadata: {name: n}\n");
  EXPECT_EQ(value(node, "spec.unschedulable"), "false");
  node["spec"]["unschedulable"] = true;
  EXPECT_EQ(value(node, "spec.unschedulable"), "true");
  Json ev = yaml(
      "apiVersion: v1\nkind: Event\nmetadata: {name: e}\nsource: {component: kubelet, host: n1}\n");
  EXPECT_EQ(value(ev, "source"), "kubelet");
  EXPECT_EQ(value(ev, "reason"), std::nullopt);
  Json pod = yaml("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n");
  EXPECT_EQ(value(pod, "spec.hostNetwork"), "false");
}

// ---- defaults -------------------------------------------------------------------------------

TEST(KindsDefaults, Pod) {
  Json pod = defaulted(yaml(kPod));
  const Json& spec = pod["spec"];
  EXPECT_EQ(spec["restartPolicy"], "Always");
  EXPECT_EQ(spec["dnsPolicy"], "ClusterFirst");
  EXPECT_EQ(spec["terminationGracePeriodSeconds"], 30);
  EXPECT_EQ(spec["schedulerName"], "default-scheduler");
  EXPECT_EQ(spec["securityContext"], Json::object());
  EXPECT_EQ(spec["enableServiceLinks"], true);
  EXPECT_EQ(spec["serviceAccountName"], "default");
  EXPECT_EQ(spec["priority"], 0);
  const Json& c = spec["containers"];
  EXPECT_EQ(c[0]["imagePullPolicy"], "Always");
  EXPECT_EQ(c[1]["imagePullPolicy"], "Always");
  EXPECT_EQ(c[2]["imagePullPolicy"], "IfNotPresent");
  EXPECT_EQ(c[3]["imagePullPolicy"], "Always");
  EXPECT_EQ(c[4]["imagePullPolicy"], "IfNotPresent");
  EXPECT_EQ(c[5]["imagePullPolicy"], "Never");
  EXPECT_EQ(c[0]["terminationMessagePath"], "/dev/termination-log");
  EXPECT_EQ(c[0]["terminationMessagePolicy"], "File");
  EXPECT_EQ(c[0]["ports"][0]["protocol"], "TCP");
  const Json& probe = c[0]["livenessProbe"];
  EXPECT_EQ(probe["timeoutSeconds"], 1);
  EXPECT_EQ(probe["periodSeconds"], 10);
  EXPECT_EQ(probe["successThreshold"], 1);
  EXPECT_EQ(probe["failureThreshold"], 3);
  EXPECT_EQ(probe["httpGet"]["scheme"], "HTTP");
  EXPECT_EQ(probe["httpGet"]["path"], "/");
  EXPECT_EQ(spec["volumes"][0]["configMap"]["defaultMode"], 420);
  EXPECT_EQ(spec["volumes"][1]["secret"]["defaultMode"], 420);
  EXPECT_FALSE(c[0].contains("readinessProbe"));
  EXPECT_EQ(pod["status"]["phase"], "Pending");
  EXPECT_EQ(pod["status"]["qosClass"], "BestEffort");
  // Taint-based eviction tolerations are added once.
  EXPECT_EQ(spec["tolerations"].size(), 2u);
  EXPECT_EQ(defaulted(pod)["spec"]["tolerations"].size(), 2u);
}

TEST(KindsDefaults, PodRequestsFromLimits) {
  Json pod = defaulted(yaml(R"(
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: [{name: a, image: busybox, resources: {limits: {cpu: 100m, memory: 64Mi}}}]
)"));
  EXPECT_EQ(pod["spec"]["containers"][0]["resources"]["requests"]["cpu"], "100m");
  EXPECT_EQ(pod["status"]["qosClass"], "Guaranteed");
}

TEST(KindsDefaults, Service) {
  Json svc = defaulted(yaml(R"(
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80}, {name: https, port: 443, targetPort: 8443}, {name: m, port: 90, targetPort: metrics}]
)"));
  EXPECT_EQ(svc["spec"]["type"], "ClusterIP");
  EXPECT_EQ(svc["spec"]["sessionAffinity"], "None");
  EXPECT_EQ(svc["spec"]["internalTrafficPolicy"], "Cluster");
  EXPECT_EQ(svc["spec"]["ipFamilyPolicy"], "SingleStack");
  EXPECT_EQ(svc["spec"]["ipFamilies"], Json::array({"IPv4"}));
  EXPECT_FALSE(svc["spec"].contains("externalTrafficPolicy"));
  EXPECT_EQ(svc["spec"]["ports"][0]["targetPort"], 80);
  EXPECT_EQ(svc["spec"]["ports"][0]["protocol"], "TCP");
  EXPECT_EQ(svc["spec"]["ports"][1]["targetPort"], 8443);
  EXPECT_EQ(svc["spec"]["ports"][2]["targetPort"], "metrics");

  Json lb = defaulted(yaml(R"(
apiVersion: v1
kind: Service
metadata: {name: lb}
spec: {type: LoadBalancer, sessionAffinity: ClientIP, ports: [{port: 80}]}
)"));
  EXPECT_EQ(lb["spec"]["externalTrafficPolicy"], "Cluster");
  EXPECT_EQ(lb["spec"]["allocateLoadBalancerNodePorts"], true);
  EXPECT_EQ(lb["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"], 10800);
}

TEST(KindsDefaults, Deployment) {
  Json d = defaulted(yaml(kDeployment));
  EXPECT_EQ(d["spec"]["replicas"], 1);
  EXPECT_EQ(d["spec"]["revisionHistoryLimit"], 10);
  EXPECT_EQ(d["spec"]["progressDeadlineSeconds"], 600);
  EXPECT_EQ(
      d["spec"]["strategy"],
      Json::parse(
          R"({"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"}})"));
  const Json& tspec = d["spec"]["template"]["spec"];
  EXPECT_EQ(tspec["restartPolicy"], "Always");
  EXPECT_EQ(tspec["containers"][0]["imagePullPolicy"], "IfNotPresent");
  EXPECT_FALSE(tspec.contains("enableServiceLinks"));  // a Pod-only default
  EXPECT_FALSE(tspec.contains("tolerations"));

  Json recreate = yaml(kDeployment);
  recreate["spec"]["strategy"] = {{"type", "Recreate"}};
  EXPECT_EQ(defaulted(recreate)["spec"]["strategy"], Json::parse(R"({"type":"Recreate"})"));
}

TEST(KindsDefaults, OtherWorkloads) {
  Json sts = yaml(kDeployment);
  sts["kind"] = "StatefulSet";
  sts["spec"]["volumeClaimTemplates"] =
      Json::parse(R"([{"metadata":{"name":"data"},"spec":{"accessModes":["ReadWriteOnce"]}}])");
  sts = defaulted(sts);
  EXPECT_EQ(sts["spec"]["podManagementPolicy"], "OrderedReady");
  EXPECT_EQ(sts["spec"]["updateStrategy"],
            Json::parse(R"({"type":"RollingUpdate","rollingUpdate":{"partition":0}})"));
  EXPECT_EQ(sts["spec"]["persistentVolumeClaimRetentionPolicy"],
            Json::parse(R"({"whenDeleted":"Retain","whenScaled":"Retain"})"));
  EXPECT_EQ(sts["spec"]["volumeClaimTemplates"][0]["spec"]["volumeMode"], "Filesystem");
  EXPECT_EQ(sts["spec"]["volumeClaimTemplates"][0]["status"]["phase"], "Pending");

  Json ds = yaml(kDeployment);
  ds["kind"] = "DaemonSet";
  ds = defaulted(ds);
  EXPECT_EQ(
      ds["spec"]["updateStrategy"],
      Json::parse(R"({"type":"RollingUpdate","rollingUpdate":{"maxSurge":0,"maxUnavailable":1}})"));
  EXPECT_EQ(ds["spec"]["revisionHistoryLimit"], 10);

  Json job = defaulted(yaml(R"(
apiVersion: batch/v1
kind: Job
metadata: {name: pi, uid: 1234-abcd}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: pi, image: busybox}]
)"));
  EXPECT_EQ(job["spec"]["completions"], 1);
  EXPECT_EQ(job["spec"]["parallelism"], 1);
  EXPECT_EQ(job["spec"]["backoffLimit"], 6);
  EXPECT_EQ(job["spec"]["completionMode"], "NonIndexed");
  EXPECT_EQ(job["spec"]["suspend"], false);
  EXPECT_EQ(job["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
            "1234-abcd");
  EXPECT_EQ(job["spec"]["template"]["metadata"]["labels"]["job-name"], "pi");
  EXPECT_EQ(job["metadata"]["labels"]["batch.kubernetes.io/job-name"], "pi");
  EXPECT_TRUE(errors_of(job).empty()) << describe(errors_of(job));

  Json parallel = yaml(R"(
apiVersion: batch/v1
kind: Job
metadata: {name: q}
spec: {parallelism: 3, template: {spec: {restartPolicy: OnFailure, containers: [{name: q, image: busybox}]}}}
)");
  parallel = defaulted(parallel);
  EXPECT_FALSE(parallel["spec"].contains("completions"));
  EXPECT_EQ(parallel["spec"]["parallelism"], 3);

  Json cj = defaulted(yaml(R"(
apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "@hourly"
  jobTemplate: {spec: {template: {spec: {restartPolicy: OnFailure, containers: [{name: t, image: busybox}]}}}}
)"));
  EXPECT_EQ(cj["spec"]["concurrencyPolicy"], "Allow");
  EXPECT_EQ(cj["spec"]["suspend"], false);
  EXPECT_EQ(cj["spec"]["successfulJobsHistoryLimit"], 3);
  EXPECT_EQ(cj["spec"]["failedJobsHistoryLimit"], 1);
  EXPECT_FALSE(cj["spec"]["jobTemplate"]["spec"].contains("backoffLimit"));
  EXPECT_EQ(cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");
}

TEST(KindsDefaults, ConfigAndStorage) {
  Json secret = defaulted(yaml(R"(
apiVersion: v1
kind: Secret
metadata: {name: s}
data: {a: YQ==}
stringData: {b: hello, c: hi!}
)"));
  EXPECT_EQ(secret["type"], "Opaque");
  EXPECT_FALSE(secret.contains("stringData"));
  EXPECT_EQ(secret["data"], Json::parse(R"({"a":"YQ==","b":"aGVsbG8=","c":"aGkh"})"));

  Json ns = defaulted(yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n"));
  EXPECT_EQ(ns["spec"]["finalizers"], Json::array({"kubernetes"}));
  EXPECT_EQ(ns["status"]["phase"], "Active");
  EXPECT_EQ(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "team");

  Json pvc = defaulted(yaml(R"(
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: c}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
)"));
  EXPECT_EQ(pvc["spec"]["volumeMode"], "Filesystem");
  EXPECT_EQ(pvc["status"]["phase"], "Pending");

  Json pv = defaulted(yaml(R"(
apiVersion: v1
kind: PersistentVolume
metadata: {name: v}
spec: {capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce], hostPath: {path: /tmp/v}}
)"));
  EXPECT_EQ(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
  EXPECT_EQ(pv["spec"]["hostPath"]["type"], "");
}

// ---- validation -----------------------------------------------------------------------------

TEST(KindsValidate, PodRules) {
  Json pod = defaulted(yaml(R"(
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
    - {name: app}
    - {name: Bad_Name, image: busybox, ports: [{name: this-name-is-too-long, containerPort: 80}]}
    - {name: app, image: busybox, volumeMounts: [{name: missing, mountPath: /x}]}
)"));
  FieldErrors errs = errors_of(pod);
  auto e = find_error(errs, "spec.containers[0].image");
  ASSERT_TRUE(e) << describe(errs);
  EXPECT_EQ(e->kind, FieldError::Kind::required);
  EXPECT_EQ(e->message, "Required value");
  ASSERT_TRUE(find_error(errs, "spec.containers[1].name"));
  EXPECT_EQ(find_error(errs, "spec.containers[1].name")->kind, FieldError::Kind::invalid);
  ASSERT_TRUE(find_error(errs, "spec.containers[1].ports[0].name"));
  EXPECT_NE(find_error(errs, "spec.containers[1].ports[0].name")->message.find("15 characters"),
            std::string::npos);
  ASSERT_TRUE(find_error(errs, "spec.containers[2].name"));
  EXPECT_EQ(find_error(errs, "spec.containers[2].name")->kind, FieldError::Kind::duplicate);
  EXPECT_TRUE(find_error(errs, "spec.containers[2].volumeMounts[0].name"));

  Json empty =
      defaulted(yaml("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n"));
  EXPECT_TRUE(find_error(errors_of(empty), "spec.containers"));
}

TEST(KindsValidate, PodUpdatesChangeOnlyImages) {
  Json pod = defaulted(yaml(kPod));
  Json images = pod;
  images["spec"]["containers"][0]["image"] = "busybox:1.37";
  EXPECT_TRUE(errors_of(images, &pod).empty()) << describe(errors_of(images, &pod));
  Json bound = pod;
  bound["spec"]["nodeName"] = "node-1";
  EXPECT_TRUE(errors_of(bound, &pod).empty());
  Json changed = pod;
  changed["spec"]["restartPolicy"] = "Never";
  auto e = find_error(errors_of(changed, &pod), "spec");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind, FieldError::Kind::forbidden);
}

TEST(KindsValidate, WorkloadSelectors) {
  Json d = yaml(kDeployment);
  d["spec"]["template"]["metadata"]["labels"]["app"] = "other";
  FieldErrors errs = errors_of(defaulted(d));
  auto e = find_error(errs, "spec.template.metadata.labels");
  ASSERT_TRUE(e) << describe(errs);
  EXPECT_NE(e->message.find("`selector` does not match template `labels`"), std::string::npos);

  Json none = yaml(kDeployment);
  none["spec"].erase("selector");
  EXPECT_TRUE(find_error(errors_of(defaulted(none)), "spec.selector"));

  Json old = defaulted(yaml(kDeployment));
  Json moved = old;
  moved["spec"]["selector"]["matchLabels"]["tier"] = "x";
  moved["spec"]["template"]["metadata"]["labels"]["tier"] = "x";
  e = find_error(errors_of(moved, &old), "spec.selector");
  ASSERT_TRUE(e);
  EXPECT_NE(e->message.find("field is immutable"), std::string::npos);

  Json never = yaml(kDeployment);
  never["spec"]["template"]["spec"]["restartPolicy"] = "Never";
  e = find_error(errors_of(defaulted(never)), "spec.template.spec.restartPolicy");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind, FieldError::Kind::not_supported);

  Json zero = yaml(kDeployment);
  zero["spec"]["strategy"] =
      Json::parse(R"({"rollingUpdate":{"maxSurge":0,"maxUnavailable":"0%"}})");
  EXPECT_TRUE(find_error(errors_of(defaulted(zero)), "spec.strategy.rollingUpdate.maxUnavailable"));

  Json job = yaml(R"(
apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec: {template: {spec: {containers: [{name: j, image: busybox}]}}}
)");
  e = find_error(errors_of(defaulted(job)), "spec.template.spec.restartPolicy");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message, R"(Unsupported value: "Always": supported values: "OnFailure", "Never")");
}

TEST(KindsValidate, ServiceRules) {
  auto svc = [](const char* spec, const char* name = "web") {
    Json o = yaml(std::string("apiVersion: v1\nkind: Service\nmetadata: {name: ") + name +
                  "}\nspec: " + spec);
    return errors_of(defaulted(o));
  };
  EXPECT_TRUE(svc("{ports: [{port: 80}]}").empty());
  EXPECT_TRUE(find_error(svc("{selector: {app: web}}"), "spec.ports"));
  EXPECT_TRUE(svc("{clusterIP: None, selector: {app: web}}").empty());
  EXPECT_TRUE(svc("{type: ExternalName, externalName: db.example.com}").empty());
  EXPECT_TRUE(find_error(svc("{ports: [{port: 80}, {port: 81}]}"), "spec.ports[0].name"));
  EXPECT_EQ(
      find_error(svc("{ports: [{name: a, port: 80}, {name: a, port: 81}]}"), "spec.ports[1].name")
          ->kind,
      FieldError::Kind::duplicate);
  auto e = find_error(svc("{ports: [{port: 80, nodePort: 30080}]}"), "spec.ports[0].nodePort");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message, "Forbidden: may not be used when `type` is 'ClusterIP'");
  EXPECT_TRUE(svc("{type: NodePort, ports: [{port: 80, nodePort: 30080}]}").empty());
  e = find_error(svc("{ports: [{port: 80}]}", "1web"), "metadata.name");
  ASSERT_TRUE(e);
  EXPECT_NE(e->message.find("DNS-1035 label"), std::string::npos);
}

TEST(KindsValidate, NamesAndKeys) {
  Json ns = defaulted(yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: a.b}\n"));
  EXPECT_TRUE(find_error(errors_of(ns), "metadata.name"));

  Json cm =
      defaulted(yaml("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {\"ok.key-1_A\": "
                     "x, \"bad key\": y}\n"));
  FieldErrors errs = errors_of(cm);
  ASSERT_EQ(errs.size(), 1u) << describe(errs);
  EXPECT_EQ(errs[0].field, "data[bad key]");

  Json secret =
      defaulted(yaml("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: "
                     "kubernetes.io/tls\ndata: {tls.crt: YQ==}\n"));
  EXPECT_TRUE(find_error(errors_of(secret), "data[tls.key]"));
  Json bad64 = defaulted(
      yaml("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: \"not base64!\"}\n"));
  EXPECT_FALSE(errors_of(bad64).empty());

  Json ev = defaulted(
      yaml("apiVersion: v1\nkind: Event\nmetadata: {name: e}\ninvolvedObject: {kind: Pod, name: p, "
           "namespace: other}\n"));
  EXPECT_TRUE(find_error(errors_of(ev), "involvedObject.namespace"));
  ev["involvedObject"]["namespace"] = "default";
  EXPECT_TRUE(errors_of(ev).empty());

  Json pfp = defaulted(yaml(R"(
apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec:
  podFailurePolicy: {rules: [{action: Ignore, onPodConditions: [{type: DisruptionTarget}]}]}
  template: {spec: {restartPolicy: OnFailure, containers: [{name: j, image: busybox}]}}
)"));
  EXPECT_EQ(pfp["spec"]["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["status"], "True");
  EXPECT_EQ(pfp["spec"]["podReplacementPolicy"], "Failed");
  EXPECT_TRUE(find_error(errors_of(pfp), "spec.template.spec.restartPolicy"));

  Json ing = defaulted(yaml(R"(
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: i}
spec:
  rules:
    - host: 10.0.0.1
      http:
        paths: [{path: api, pathType: Prefix, backend: {service: {name: s, port: {number: 80, name: http}}}}]
)"));
  errs = errors_of(ing);
  EXPECT_TRUE(find_error(errs, "spec.rules[0].host")) << describe(errs);
  EXPECT_TRUE(find_error(errs, "spec.rules[0].http.paths[0].path"));
  EXPECT_TRUE(find_error(errs, "spec.rules[0].http.paths[0].backend.service.port"));
}

// ---- columns --------------------------------------------------------------------------------

TEST(KindsColumns, PodStatus) {
  Json pod = yaml(R"(
apiVersion: v1
kind: Pod
metadata: {name: p, creationTimestamp: "2020-01-01T00:00:00Z"}
spec:
  nodeName: node-1
  containers: [{name: a, image: busybox}]
status:
  phase: Running
  podIPs: [{ip: 10.244.0.5}]
  containerStatuses:
    - {name: a, ready: true, restartCount: 0, image: busybox, imageID: x, state: {running: {startedAt: "2020-01-01T00:00:01Z"}}}
)");
  EXPECT_EQ(cell(pod, "Ready"), "1/1");
  EXPECT_EQ(cell(pod, "Status"), "Running");
  EXPECT_EQ(cell(pod, "Restarts"), "0");
  EXPECT_EQ(cell(pod, "IP"), "10.244.0.5");
  EXPECT_EQ(cell(pod, "Node"), "node-1");
  EXPECT_EQ(cell(pod, "Nominated Node"), "<none>");
  EXPECT_EQ(cell(pod, "Readiness Gates"), "<none>");
  EXPECT_TRUE(cell(pod, "Age").is_string());

  Json crash = pod;
  crash["status"]["containerStatuses"][0] =
      Json::parse(R"({"name":"a","ready":false,"restartCount":4,
    "image":"busybox","imageID":"x","state":{"waiting":{"reason":"CrashLoopBackOff"}},
    "lastState":{"terminated":{"exitCode":1,"finishedAt":"2020-01-01T00:00:00Z"}}})");
  EXPECT_EQ(cell(crash, "Ready"), "0/1");
  EXPECT_EQ(cell(crash, "Status"), "CrashLoopBackOff");
  EXPECT_EQ(cell(crash, "Restarts").get<std::string>().rfind("4 (", 0), 0u);

  Json init = pod;
  init["spec"]["initContainers"] = Json::parse(R"([{"name":"i","image":"busybox"}])");
  init["status"]["initContainerStatuses"] =
      Json::parse(R"([{"name":"i","ready":false,"restartCount":0,
    "image":"busybox","imageID":"","state":{"running":{}}}])");
  EXPECT_EQ(cell(init, "Status"), "Init:0/1");

  Json done = pod;
  done["status"]["containerStatuses"][0]["state"] = {
      {"terminated", {{"exitCode", 0}, {"reason", "Completed"}}}};
  EXPECT_EQ(cell(done, "Status"), "Completed");

  Json deleting = pod;
  deleting["metadata"]["deletionTimestamp"] = "2020-01-01T00:00:00Z";
  EXPECT_EQ(cell(deleting, "Status"), "Terminating");
}

TEST(KindsColumns, ServicesAndWorkloads) {
  Json svc = yaml(R"(
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10]
  selector: {tier: web, app: shop}
  ports: [{port: 80, nodePort: 30080, protocol: TCP}, {port: 443, protocol: TCP}]
)");
  EXPECT_EQ(cell(svc, "Type"), "LoadBalancer");
  EXPECT_EQ(cell(svc, "Cluster-IP"), "10.96.0.10");
  EXPECT_EQ(cell(svc, "External-IP"), "<pending>");
  EXPECT_EQ(cell(svc, "Port(s)"), "80:30080/TCP,443/TCP");
  EXPECT_EQ(cell(svc, "Selector"), "app=shop,tier=web");
  svc["status"]["loadBalancer"]["ingress"] = Json::parse(R"([{"ip":"192.0.2.1"}])");
  EXPECT_EQ(cell(svc, "External-IP"), "192.0.2.1");

  Json d = defaulted(yaml(kDeployment));
  d["spec"]["replicas"] = 3;
  d["status"] = {{"readyReplicas", 2}, {"updatedReplicas", 3}, {"availableReplicas", 2}};
  EXPECT_EQ(cell(d, "Ready"), "2/3");
  EXPECT_EQ(cell(d, "Up-to-date"), 3);
  EXPECT_EQ(cell(d, "Available"), 2);
  EXPECT_EQ(cell(d, "Containers"), "web");
  EXPECT_EQ(cell(d, "Images"), "busybox:1.36");
  EXPECT_EQ(cell(d, "Selector"), "app=web");

  Json node = yaml(R"(
apiVersion: v1
kind: Node
metadata: {name: n, labels: {node-role.kubernetes.io/control-plane: ""}}
spec: {unschedulable: true}
status:
  conditions: [{type: Ready, status: "True"}]
  addresses: [{type: InternalIP, address: 192.168.1.2}]
  nodeInfo: {kubeletVersion: v1.32.0}
)");
  EXPECT_EQ(cell(node, "Status"), "Ready,SchedulingDisabled");
  EXPECT_EQ(cell(node, "Roles"), "control-plane");
  EXPECT_EQ(cell(node, "Version"), "v1.32.0");
  EXPECT_EQ(cell(node, "Internal-IP"), "192.168.1.2");
  EXPECT_EQ(cell(node, "OS-Image"), "<unknown>");

  Json ep = yaml(R"(
apiVersion: v1
kind: Endpoints
metadata: {name: e}
subsets: [{addresses: [{ip: 10.0.0.1}, {ip: 10.0.0.2}, {ip: 10.0.0.3}, {ip: 10.0.0.4}], ports: [{port: 80}]}]
)");
  EXPECT_EQ(cell(ep, "Endpoints"), "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 1 more...");

  Json ing = yaml(R"(
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: i}
spec:
  tls: [{hosts: [my-app.com]}]
  rules: [{host: my-app.com}, {host: api.my-app.com}]
)");
  EXPECT_EQ(cell(ing, "Class"), "<none>");
  EXPECT_EQ(cell(ing, "Hosts"), "my-app.com,api.my-app.com");
  EXPECT_EQ(cell(ing, "Ports"), "80, 443");

  Json job = yaml(R"(
apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec: {completions: 3}
status:
  succeeded: 3
  startTime: "2020-01-01T00:00:00Z"
  completionTime: "2020-01-01T00:00:42Z"
  conditions: [{type: Complete, status: "True"}]
)");
  EXPECT_EQ(cell(job, "Status"), "Complete");
  EXPECT_EQ(cell(job, "Completions"), "3/3");
  EXPECT_EQ(cell(job, "Duration"), "42s");

  Json cm = yaml(
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: x, b: y}\nbinaryData: {c: "
      "eA==}\n");
  EXPECT_EQ(cell(cm, "Data"), 3);
  Json secret =
      defaulted(yaml("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {a: x}\n"));
  EXPECT_EQ(cell(secret, "Type"), "Opaque");
  EXPECT_EQ(cell(secret, "Data"), 1);
}

}  // namespace
}  // namespace k8c::api
