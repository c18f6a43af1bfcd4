// core/v1 PodSpec and everything hanging off it (containers, probes, volumes, affinity), the
// PodStatus, the PersistentVolumeClaim spec (used by StatefulSet templates), and the pod
// defaults and rules shared by Pod and every workload template.
#include "control/api/kinds_internal.h"
#include "control/api/object.h"

#include <algorithm>
#include <set>

namespace k8c::api::detail {
namespace {

S quantity_map() {
  static const SchemaPtr s = map(quantity());
  return s;
}

S key_to_path() {
  static const SchemaPtr s = obj({{"key", str().req()}, {"path", str().req()}, {"mode", integer()}})
                                 .named("io.k8s.api.core.v1.KeyToPath");
  return s;
}

S object_field_selector() {
  static const SchemaPtr s = obj({{"apiVersion", str().def("v1")}, {"fieldPath", str().req()}})
                                 .named("io.k8s.api.core.v1.ObjectFieldSelector");
  return s;
}

S resource_field_selector() {
  static const SchemaPtr s =
      obj({{"containerName", str()}, {"divisor", quantity()}, {"resource", str().req()}})
          .named("io.k8s.api.core.v1.ResourceFieldSelector");
  return s;
}

S key_selector(const char* name) {
  return obj({{"key", str().req()}, {"name", str()}, {"optional", boolean()}}).named(name);
}

S container_port() {
  static const SchemaPtr s = obj({{"containerPort", integer().req().min(1).max(65535)},
                                  {"hostIP", str()},
                                  {"hostPort", integer().min(0).max(65535)},
                                  {"name", str()},
                                  {"protocol", str().def("TCP").oneof({"TCP", "UDP", "SCTP"})}})
                                 .named("io.k8s.api.core.v1.ContainerPort");
  return s;
}

S env_var() {
  static const SchemaPtr source =
      obj({{"configMapKeyRef", key_selector("io.k8s.api.core.v1.ConfigMapKeySelector")},
           {"fieldRef", object_field_selector()},
           {"resourceFieldRef", resource_field_selector()},
           {"secretKeyRef", key_selector("io.k8s.api.core.v1.SecretKeySelector")}})
          .named("io.k8s.api.core.v1.EnvVarSource");
  static const SchemaPtr s = obj({{"name", str().req()}, {"value", str()}, {"valueFrom", source}})
                                 .named("io.k8s.api.core.v1.EnvVar");
  return s;
}

S env_from() {
  auto ref = [](const char* n) { return obj({{"name", str()}, {"optional", boolean()}}).named(n); };
  static const SchemaPtr s = obj({{"configMapRef", ref("io.k8s.api.core.v1.ConfigMapEnvSource")},
                                  {"prefix", str()},
                                  {"secretRef", ref("io.k8s.api.core.v1.SecretEnvSource")}})
                                 .named("io.k8s.api.core.v1.EnvFromSource");
  return s;
}

S resources() {
  static const SchemaPtr claim =
      obj({{"name", str().req()}, {"request", str()}}).named("io.k8s.api.core.v1.ResourceClaim");
  static const SchemaPtr s = obj({{"claims", list(claim).list_map({"name"})},
                                  {"limits", quantity_map()},
                                  {"requests", quantity_map()}})
                                 .named("io.k8s.api.core.v1.ResourceRequirements");
  return s;
}

S http_get() {
  static const SchemaPtr header =
      obj({{"name", str().req()}, {"value", str().req()}}).named("io.k8s.api.core.v1.HTTPHeader");
  static const SchemaPtr s = obj({{"host", str()},
                                  {"httpHeaders", list(header)},
                                  {"path", str().def("/")},
                                  {"port", int_or_string().req()},
                                  {"scheme", str().def("HTTP").oneof({"HTTP", "HTTPS"})}})
                                 .named("io.k8s.api.core.v1.HTTPGetAction");
  return s;
}

S exec_action() {
  static const SchemaPtr s =
      obj({{"command", string_list()}}).named("io.k8s.api.core.v1.ExecAction");
  return s;
}

S tcp_socket() {
  static const SchemaPtr s = obj({{"host", str()}, {"port", int_or_string().req()}})
                                 .named("io.k8s.api.core.v1.TCPSocketAction");
  return s;
}

S probe() {
  static const SchemaPtr grpc =
      obj({{"port", integer().req()}, {"service", str()}}).named("io.k8s.api.core.v1.GRPCAction");
  static const SchemaPtr s = obj({{"exec", exec_action()},
                                  {"failureThreshold", integer().def(3)},
                                  {"grpc", grpc},
                                  {"httpGet", http_get()},
                                  {"initialDelaySeconds", integer()},
                                  {"periodSeconds", integer().def(10)},
                                  {"successThreshold", integer().def(1)},
                                  {"tcpSocket", tcp_socket()},
                                  {"terminationGracePeriodSeconds", integer()},
                                  {"timeoutSeconds", integer().def(1)}})
                                 .named("io.k8s.api.core.v1.Probe");
  return s;
}

S lifecycle() {
  static const SchemaPtr sleep =
      obj({{"seconds", integer().req()}}).named("io.k8s.api.core.v1.SleepAction");
  static const SchemaPtr handler = obj({{"exec", exec_action()},
                                        {"httpGet", http_get()},
                                        {"sleep", sleep},
                                        {"tcpSocket", tcp_socket()}})
                                       .named("io.k8s.api.core.v1.LifecycleHandler");
  static const SchemaPtr s =
      obj({{"postStart", handler}, {"preStop", handler}, {"stopSignal", str()}})
          .named("io.k8s.api.core.v1.Lifecycle");
  return s;
}

S se_linux_options() {
  static const SchemaPtr s =
      obj({{"level", str()}, {"role", str()}, {"type", str()}, {"user", str()}})
          .named("io.k8s.api.core.v1.SELinuxOptions");
  return s;
}
S windows_options() {
  static const SchemaPtr s = obj({{"gmsaCredentialSpec", str()},
                                  {"gmsaCredentialSpecName", str()},
                                  {"hostProcess", boolean()},
                                  {"runAsUserName", str()}})
                                 .named("io.k8s.api.core.v1.WindowsSecurityContextOptions");
  return s;
}
S profile(const char* name, std::vector<std::string> types) {
  return obj({{"localhostProfile", str()}, {"type", str().req().oneof(std::move(types))}})
      .named(name);
}
S seccomp() {
  static const SchemaPtr s =
      profile("io.k8s.api.core.v1.SeccompProfile", {"Localhost", "RuntimeDefault", "Unconfined"});
  return s;
}
S app_armor() {
  static const SchemaPtr s =
      profile("io.k8s.api.core.v1.AppArmorProfile", {"Localhost", "RuntimeDefault", "Unconfined"});
  return s;
}

S security_context() {
  static const SchemaPtr caps = obj({{"add", string_list()}, {"drop", string_list()}})
                                    .named("io.k8s.api.core.v1.Capabilities");
  static const SchemaPtr s = obj({{"allowPrivilegeEscalation", boolean()},
                                  {"appArmorProfile", app_armor()},
                                  {"capabilities", caps},
                                  {"privileged", boolean()},
                                  {"procMount", str().oneof({"Default", "Unmasked"})},
                                  {"readOnlyRootFilesystem", boolean()},
                                  {"runAsGroup", integer()},
                                  {"runAsNonRoot", boolean()},
                                  {"runAsUser", integer()},
                                  {"seLinuxOptions", se_linux_options()},
                                  {"seccompProfile", seccomp()},
                                  {"windowsOptions", windows_options()}})
                                 .named("io.k8s.api.core.v1.SecurityContext");
  return s;
}

S pod_security_context() {
  static const SchemaPtr sysctl =
      obj({{"name", str().req()}, {"value", str().req()}}).named("io.k8s.api.core.v1.Sysctl");
  static const SchemaPtr s =
      obj({{"appArmorProfile", app_armor()},
           {"fsGroup", integer()},
           {"fsGroupChangePolicy", str().oneof({"OnRootMismatch", "Always"})},
           {"runAsGroup", integer()},
           {"runAsNonRoot", boolean()},
           {"runAsUser", integer()},
           {"seLinuxChangePolicy", str()},
           {"seLinuxOptions", se_linux_options()},
           {"seccompProfile", seccomp()},
           {"supplementalGroups", list(integer())},
           {"supplementalGroupsPolicy", str().oneof({"Merge", "Strict"})},
           {"sysctls", list(sysctl)},
           {"windowsOptions", windows_options()}})
          .named("io.k8s.api.core.v1.PodSecurityContext");
  return s;
}

// The fields of Container, shared with EphemeralContainer (which adds targetContainerName).
S container_body() {
  static const SchemaPtr resize =
      obj({{"resourceName", str().req()}, {"restartPolicy", str().req()}})
          .named("io.k8s.api.core.v1.ContainerResizePolicy");
  static const SchemaPtr mount =
      obj({{"mountPath", str().req()},
           {"mountPropagation", str().oneof({"None", "HostToContainer", "Bidirectional"})},
           {"name", str().req()},
           {"readOnly", boolean()},
           {"recursiveReadOnly", str()},
           {"subPath", str()},
           {"subPathExpr", str()}})
          .named("io.k8s.api.core.v1.VolumeMount");
  static const SchemaPtr device = obj({{"devicePath", str().req()}, {"name", str().req()}})
                                      .named("io.k8s.api.core.v1.VolumeDevice");
  static const SchemaPtr s =
      obj({{"args", string_list()},
           {"command", string_list()},
           {"env", list(env_var()).merge("name")},
           {"envFrom", list(env_from())},
           {"image", str()},
           {"imagePullPolicy", str().oneof({"Always", "Never", "IfNotPresent"})},
           {"lifecycle", lifecycle()},
           {"livenessProbe", probe()},
           {"name", str().req()},
           {"ports",
            list(container_port()).merge("containerPort").list_map({"containerPort", "protocol"})},
           {"readinessProbe", probe()},
           {"resizePolicy", list(resize)},
           {"resources", resources()},
           {"restartPolicy", str().oneof({"Always"})},
           {"securityContext", security_context()},
           {"startupProbe", probe()},
           {"stdin", boolean()},
           {"stdinOnce", boolean()},
           {"terminationMessagePath", str().def("/dev/termination-log")},
           {"terminationMessagePolicy", str().def("File").oneof({"File", "FallbackToLogsOnError"})},
           {"tty", boolean()},
           {"volumeDevices", list(device).merge("devicePath")},
           {"volumeMounts", list(mount).merge("mountPath")},
           {"workingDir", str()}});
  return s;
}

S container() {
  static const SchemaPtr s = S(container_body().ptr()).named("io.k8s.api.core.v1.Container");
  return s;
}

S ephemeral_container() {
  static const SchemaPtr s = [] {
    auto node = std::make_shared<Schema>(*container_body().ptr());
    node->properties.emplace_back("targetContainerName", str().ptr());
    node->name = "io.k8s.api.core.v1.EphemeralContainer";
    return SchemaPtr(node);
  }();
  return s;
}

// The in-tree volume plugins Kubernetes still accepts but k8c cannot mount (cloud disks,
// iSCSI, Ceph, ...): declared so manifests that carry them decode, kept free-form.
SchemaPtr with_legacy_sources(SchemaPtr schema) {
  auto node = std::make_shared<Schema>(*schema);
  for (const char* name :
       {"awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder", "fc", "flexVolume",
        "flocker", "gcePersistentDisk", "gitRepo", "glusterfs", "iscsi", "photonPersistentDisk",
        "portworxVolume", "quobyte", "rbd", "scaleIO", "storageos", "vsphereVolume"})
    if (!(name == std::string("gitRepo") && node->name != "io.k8s.api.core.v1.Volume"))
      node->properties.emplace_back(name, any().ptr());
  return node;
}

S host_path_source() {
  static const SchemaPtr s =
      obj({{"path", str().req()},
           {"type", str().def("").oneof({"", "DirectoryOrCreate", "Directory", "FileOrCreate",
                                         "File", "Socket", "CharDevice", "BlockDevice"})}})
          .named("io.k8s.api.core.v1.HostPathVolumeSource");
  return s;
}

S nfs_source() {
  static const SchemaPtr s =
      obj({{"path", str().req()}, {"readOnly", boolean()}, {"server", str().req()}})
          .named("io.k8s.api.core.v1.NFSVolumeSource");
  return s;
}

S volume() {
  static const SchemaPtr items = list(key_to_path());
  static const SchemaPtr downward_file = obj({{"fieldRef", object_field_selector()},
                                              {"mode", integer()},
                                              {"path", str().req()},
                                              {"resourceFieldRef", resource_field_selector()}})
                                             .named("io.k8s.api.core.v1.DownwardAPIVolumeFile");
  static const SchemaPtr projection =
      obj({{"clusterTrustBundle", obj({{"labelSelector", label_selector()},
                                       {"name", str()},
                                       {"optional", boolean()},
                                       {"path", str().req()},
                                       {"signerName", str()}})},
           {"configMap", obj({{"items", items}, {"name", str()}, {"optional", boolean()}})},
           {"downwardAPI", obj({{"items", list(downward_file)}})},
           {"secret", obj({{"items", items}, {"name", str()}, {"optional", boolean()}})},
           {"serviceAccountToken", obj({{"audience", str()},
                                        {"expirationSeconds", integer().def(3600)},
                                        {"path", str().req()}})}})
          .named("io.k8s.api.core.v1.VolumeProjection");
  static const SchemaPtr s =
      obj({{"name", str().req()},
           {"configMap", obj({{"defaultMode", integer().def(420)},
                              {"items", items},
                              {"name", str()},
                              {"optional", boolean()}})
                             .named("io.k8s.api.core.v1.ConfigMapVolumeSource")},
           {"csi", obj({{"driver", str().req()},
                        {"fsType", str()},
                        {"nodePublishSecretRef", local_object_reference()},
                        {"readOnly", boolean()},
                        {"volumeAttributes", string_map()}})
                       .named("io.k8s.api.core.v1.CSIVolumeSource")},
           {"downwardAPI",
            obj({{"defaultMode", integer().def(420)}, {"items", list(downward_file)}})
                .named("io.k8s.api.core.v1.DownwardAPIVolumeSource")},
           {"emptyDir", obj({{"medium", str()}, {"sizeLimit", quantity()}})
                            .named("io.k8s.api.core.v1.EmptyDirVolumeSource")},
           {"ephemeral", obj({{"volumeClaimTemplate",
                               obj({{"metadata", object_meta()}, {"spec", pvc_spec().req()}})}})
                             .named("io.k8s.api.core.v1.EphemeralVolumeSource")},
           {"hostPath", host_path_source()},
           {"image", obj({{"pullPolicy", str()}, {"reference", str()}})
                         .named("io.k8s.api.core.v1.ImageVolumeSource")},
           {"nfs", nfs_source()},
           {"persistentVolumeClaim",
            obj({{"claimName", str().req()}, {"readOnly", boolean()}})
                .named("io.k8s.api.core.v1.PersistentVolumeClaimVolumeSource")},
           {"projected", obj({{"defaultMode", integer().def(420)}, {"sources", list(projection)}})
                             .named("io.k8s.api.core.v1.ProjectedVolumeSource")},
           {"secret", obj({{"defaultMode", integer().def(420)},
                           {"items", items},
                           {"optional", boolean()},
                           {"secretName", str()}})
                          .named("io.k8s.api.core.v1.SecretVolumeSource")}})
          .named("io.k8s.api.core.v1.Volume");
  static const SchemaPtr full = with_legacy_sources(s);
  return full;
}

S node_selector_term() {
  static const SchemaPtr requirement =
      obj({{"key", str().req()},
           {"operator", str().req().oneof({"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"})},
           {"values", string_list()}})
          .named("io.k8s.api.core.v1.NodeSelectorRequirement");
  static const SchemaPtr s =
      obj({{"matchExpressions", list(requirement)}, {"matchFields", list(requirement)}})
          .named("io.k8s.api.core.v1.NodeSelectorTerm");
  return s;
}

S pod_affinity_term() {
  static const SchemaPtr s = obj({{"labelSelector", label_selector()},
                                  {"matchLabelKeys", string_list()},
                                  {"mismatchLabelKeys", string_list()},
                                  {"namespaceSelector", label_selector()},
                                  {"namespaces", string_list()},
                                  {"topologyKey", str().req()}})
                                 .named("io.k8s.api.core.v1.PodAffinityTerm");
  return s;
}

S pod_affinity(const char* name) {
  static const SchemaPtr weighted = obj({{"podAffinityTerm", pod_affinity_term().req()},
                                         {"weight", integer().req().min(1).max(100)}})
                                        .named("io.k8s.api.core.v1.WeightedPodAffinityTerm");
  return obj({{"preferredDuringSchedulingIgnoredDuringExecution", list(weighted)},
              {"requiredDuringSchedulingIgnoredDuringExecution", list(pod_affinity_term())}})
      .named(name);
}

S affinity() {
  static const SchemaPtr preferred =
      obj({{"preference", node_selector_term().req()}, {"weight", integer().req().min(1).max(100)}})
          .named("io.k8s.api.core.v1.PreferredSchedulingTerm");
  static const SchemaPtr s =
      obj({{"nodeAffinity",
            obj({{"preferredDuringSchedulingIgnoredDuringExecution", list(preferred)},
                 {"requiredDuringSchedulingIgnoredDuringExecution", node_selector()}})
                .named("io.k8s.api.core.v1.NodeAffinity")},
           {"podAffinity", pod_affinity("io.k8s.api.core.v1.PodAffinity")},
           {"podAntiAffinity", pod_affinity("io.k8s.api.core.v1.PodAntiAffinity")}})
          .named("io.k8s.api.core.v1.Affinity");
  return s;
}

S container_state() {
  static const SchemaPtr s =
      obj({{"running",
            obj({{"startedAt", timestamp()}}).named("io.k8s.api.core.v1.ContainerStateRunning")},
           {"terminated", obj({{"containerID", str()},
                               {"exitCode", integer()},
                               {"finishedAt", timestamp()},
                               {"message", str()},
                               {"reason", str()},
                               {"signal", integer()},
                               {"startedAt", timestamp()}})
                              .named("io.k8s.api.core.v1.ContainerStateTerminated")},
           {"waiting", obj({{"message", str()}, {"reason", str()}})
                           .named("io.k8s.api.core.v1.ContainerStateWaiting")}})
          .named("io.k8s.api.core.v1.ContainerState");
  return s;
}

S container_status() {
  static const SchemaPtr s = obj({{"allocatedResources", quantity_map()},
                                  {"allocatedResourcesStatus", list(any())},
                                  {"containerID", str()},
                                  {"image", str()},
                                  {"imageID", str()},
                                  {"lastState", container_state()},
                                  {"name", str()},
                                  {"ready", boolean()},
                                  {"resources", resources()},
                                  {"restartCount", integer()},
                                  {"started", boolean()},
                                  {"state", container_state()},
                                  {"stopSignal", str()},
                                  {"user", any()},
                                  {"volumeMounts", list(any())}})
                                 .named("io.k8s.api.core.v1.ContainerStatus");
  return s;
}

S ip_list(const char* name) {
  return list(obj({{"ip", str().req()}}).named(name)).merge("ip");
}

bool is_true(const Json& o, std::initializer_list<std::string_view> path) {
  const Json* v = find_path(o, path);
  return v && v->is_boolean() && v->get<bool>();
}

}  // namespace

S node_selector() {
  static const SchemaPtr s = obj({{"nodeSelectorTerms", list(node_selector_term()).req()}})
                                 .named("io.k8s.api.core.v1.NodeSelector");
  return s;
}

S pvc_spec() {
  static const SchemaPtr s =
      obj({{"accessModes", string_list()},
           {"dataSource", typed_local_object_reference()},
           {"dataSourceRef", obj({{"apiGroup", str()},
                                  {"kind", str().req()},
                                  {"name", str().req()},
                                  {"namespace", str()}})
                                 .named("io.k8s.api.core.v1.TypedObjectReference")},
           {"resources", obj({{"limits", quantity_map()}, {"requests", quantity_map()}})
                             .named("io.k8s.api.core.v1.VolumeResourceRequirements")},
           {"selector", label_selector()},
           {"storageClassName", str()},
           {"volumeAttributesClassName", str()},
           {"volumeMode", str().def("Filesystem").oneof({"Block", "Filesystem"})},
           {"volumeName", str()}})
          .named("io.k8s.api.core.v1.PersistentVolumeClaimSpec");
  return s;
}

S pvc_status() {
  static const SchemaPtr cond = obj({{"lastProbeTime", timestamp()},
                                     {"lastTransitionTime", timestamp()},
                                     {"message", str()},
                                     {"reason", str()},
                                     {"status", str().req()},
                                     {"type", str().req()}})
                                    .named("io.k8s.api.core.v1.PersistentVolumeClaimCondition");
  static const SchemaPtr s = obj({{"accessModes", string_list()},
                                  {"allocatedResourceStatuses", string_map()},
                                  {"allocatedResources", quantity_map()},
                                  {"capacity", quantity_map()},
                                  {"conditions", list(cond).merge("type")},
                                  {"currentVolumeAttributesClassName", str()},
                                  {"modifyVolumeStatus", any()},
                                  {"phase", str().oneof({"Pending", "Bound", "Lost"})}})
                                 .named("io.k8s.api.core.v1.PersistentVolumeClaimStatus");
  return s;
}

S persistent_volume_claim() {
  static const SchemaPtr s = kind_object("io.k8s.api.core.v1.PersistentVolumeClaim",
                                         {{"spec", pvc_spec()}, {"status", pvc_status()}});
  return s;
}

S pv_spec() {
  static const SchemaPtr secret_ref =
      obj({{"name", str()}, {"namespace", str()}}).named("io.k8s.api.core.v1.SecretReference");
  static const SchemaPtr s =
      obj({{"accessModes", string_list()},
           {"capacity", quantity_map()},
           {"claimRef", object_reference()},
           {"csi", obj({{"controllerExpandSecretRef", secret_ref},
                        {"controllerPublishSecretRef", secret_ref},
                        {"driver", str().req()},
                        {"fsType", str()},
                        {"nodeExpandSecretRef", secret_ref},
                        {"nodePublishSecretRef", secret_ref},
                        {"nodeStageSecretRef", secret_ref},
                        {"readOnly", boolean()},
                        {"volumeAttributes", string_map()},
                        {"volumeHandle", str().req()}})
                       .named("io.k8s.api.core.v1.CSIPersistentVolumeSource")},
           {"hostPath", host_path_source()},
           {"local", obj({{"fsType", str()}, {"path", str().req()}})
                         .named("io.k8s.api.core.v1.LocalVolumeSource")},
           {"mountOptions", string_list()},
           {"nfs", nfs_source()},
           {"nodeAffinity",
            obj({{"required", node_selector()}}).named("io.k8s.api.core.v1.VolumeNodeAffinity")},
           {"persistentVolumeReclaimPolicy",
            str().def("Retain").oneof({"Retain", "Delete", "Recycle"})},
           {"storageClassName", str()},
           {"volumeAttributesClassName", str()},
           {"volumeMode", str().def("Filesystem").oneof({"Block", "Filesystem"})}})
          .named("io.k8s.api.core.v1.PersistentVolumeSpec");
  static const SchemaPtr full = with_legacy_sources(s);
  return full;
}

S pod_spec() {
  static const SchemaPtr toleration =
      obj({{"effect", str().oneof({"NoSchedule", "PreferNoSchedule", "NoExecute"})},
           {"key", str()},
           {"operator", str().oneof({"Exists", "Equal"})},
           {"tolerationSeconds", integer()},
           {"value", str()}})
          .named("io.k8s.api.core.v1.Toleration");
  static const SchemaPtr spread =
      obj({{"labelSelector", label_selector()},
           {"matchLabelKeys", string_list()},
           {"maxSkew", integer().req().min(1)},
           {"minDomains", integer()},
           {"nodeAffinityPolicy", str().oneof({"Honor", "Ignore"})},
           {"nodeTaintsPolicy", str().oneof({"Honor", "Ignore"})},
           {"topologyKey", str().req()},
           {"whenUnsatisfiable", str().req().oneof({"DoNotSchedule", "ScheduleAnyway"})}})
          .named("io.k8s.api.core.v1.TopologySpreadConstraint");
  static const SchemaPtr dns =
      obj({{"nameservers", string_list()},
           {"options", list(obj({{"name", str()}, {"value", str()}})
                                .named("io.k8s.api.core.v1.PodDNSConfigOption"))},
           {"searches", string_list()}})
          .named("io.k8s.api.core.v1.PodDNSConfig");
  static const SchemaPtr s =
      obj({{"activeDeadlineSeconds", integer().min(1)},
           {"affinity", affinity()},
           {"automountServiceAccountToken", boolean()},
           {"containers", list(container()).merge("name").req()},
           {"dnsConfig", dns},
           {"dnsPolicy",
            str()
                .def("ClusterFirst")
                .oneof({"ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"})},
           {"enableServiceLinks", boolean()},
           {"ephemeralContainers", list(ephemeral_container()).merge("name")},
           {"hostAliases", list(obj({{"hostnames", string_list()}, {"ip", str().req()}})
                                    .named("io.k8s.api.core.v1.HostAlias"))
                               .merge("ip")},
           {"hostIPC", boolean()},
           {"hostNetwork", boolean()},
           {"hostPID", boolean()},
           {"hostUsers", boolean()},
           {"hostname", str()},
           {"imagePullSecrets", list(local_object_reference()).merge("name")},
           {"initContainers", list(container()).merge("name")},
           {"nodeName", str()},
           {"nodeSelector", string_map()},
           {"os", obj({{"name", str().req()}}).named("io.k8s.api.core.v1.PodOS")},
           {"overhead", quantity_map()},
           {"preemptionPolicy", str().oneof({"PreemptLowerPriority", "Never"})},
           {"priority", integer()},
           {"priorityClassName", str()},
           {"readinessGates", list(obj({{"conditionType", str().req()}})
                                       .named("io.k8s.api.core.v1.PodReadinessGate"))},
           {"resourceClaims", list(obj({{"name", str().req()},
                                        {"resourceClaimName", str()},
                                        {"resourceClaimTemplateName", str()}})
                                       .named("io.k8s.api.core.v1.PodResourceClaim"))
                                  .merge("name")
                                  .strategy("merge,retainKeys")},
           {"resources", resources()},
           {"restartPolicy", str().def("Always").oneof({"Always", "OnFailure", "Never"})},
           {"runtimeClassName", str()},
           {"schedulerName", str().def("default-scheduler")},
           {"schedulingGates",
            list(obj({{"name", str().req()}}).named("io.k8s.api.core.v1.PodSchedulingGate"))
                .merge("name")},
           {"securityContext", S(pod_security_context()).def(Json::object())},
           {"serviceAccount", str()},
           {"serviceAccountName", str()},
           {"setHostnameAsFQDN", boolean()},
           {"shareProcessNamespace", boolean()},
           {"subdomain", str()},
           {"terminationGracePeriodSeconds", integer().def(30)},
           {"tolerations", list(toleration)},
           {"topologySpreadConstraints",
            list(spread).merge("topologyKey").list_map({"topologyKey", "whenUnsatisfiable"})},
           {"volumes", list(volume()).merge("name").strategy("merge,retainKeys")}})
          .named("io.k8s.api.core.v1.PodSpec");
  return s;
}

S pod_status() {
  static const SchemaPtr cond = obj({{"lastProbeTime", timestamp()},
                                     {"lastTransitionTime", timestamp()},
                                     {"message", str()},
                                     {"observedGeneration", integer()},
                                     {"reason", str()},
                                     {"status", str().req()},
                                     {"type", str().req()}})
                                    .named("io.k8s.api.core.v1.PodCondition");
  static const SchemaPtr s =
      obj({{"conditions", list(cond).merge("type")},
           {"containerStatuses", list(container_status())},
           {"ephemeralContainerStatuses", list(container_status())},
           {"hostIP", str()},
           {"hostIPs", ip_list("io.k8s.api.core.v1.HostIP")},
           {"initContainerStatuses", list(container_status())},
           {"message", str()},
           {"nominatedNodeName", str()},
           {"observedGeneration", integer()},
           {"phase", str().oneof({"Pending", "Running", "Succeeded", "Failed", "Unknown"})},
           {"podIP", str()},
           {"podIPs", ip_list("io.k8s.api.core.v1.PodIP")},
           {"qosClass", str().oneof({"Guaranteed", "Burstable", "BestEffort"})},
           {"reason", str()},
           {"resize", str()},
           {"resourceClaimStatuses", list(any())},
           {"startTime", timestamp()}})
          .named("io.k8s.api.core.v1.PodStatus");
  return s;
}

S pod_template_spec() {
  static const SchemaPtr s = obj({{"metadata", object_meta()}, {"spec", pod_spec()}})
                                 .named("io.k8s.api.core.v1.PodTemplateSpec");
  return s;
}

// ---- derived defaults ------------------------------------------------------------------------

namespace {

// The tag of an image reference as parsers.ParseImageName sees it: "" when only a digest.
std::string image_tag(const std::string& image) {
  if (image.find('@') != std::string::npos) {
    std::string name = image.substr(0, image.find('@'));
    auto colon = name.rfind(':');
    return colon != std::string::npos && name.find('/', colon) == std::string::npos
               ? name.substr(colon + 1)
               : "";
  }
  auto colon = image.rfind(':');
  if (colon == std::string::npos || image.find('/', colon) != std::string::npos) return "latest";
  return image.substr(colon + 1);
}

void default_containers(Json& spec, const char* field, bool host_network) {
  auto it = spec.find(field);
  if (it == spec.end() || !it->is_array()) return;
  for (auto& c : *it) {
    if (!c.is_object()) continue;
    if (!c.contains("imagePullPolicy"))
      c["imagePullPolicy"] =
          image_tag(get_string(c, {"image"})) == "latest" ? "Always" : "IfNotPresent";
    if (host_network && c.contains("ports") && c["ports"].is_array())
      for (auto& p : c["ports"])
        if (p.is_object() && !p.contains("hostPort") && p.contains("containerPort"))
          p["hostPort"] = p["containerPort"];
  }
}

}  // namespace

void default_pod_spec(Json& spec, bool is_pod) {
  if (!spec.is_object()) return;
  bool host_network = is_true(spec, {"hostNetwork"});
  for (const char* f : {"containers", "initContainers", "ephemeralContainers"})
    default_containers(spec, f, host_network);
  // serviceAccount is the deprecated alias of serviceAccountName; conversion keeps them equal.
  if (get_string(spec, {"serviceAccountName"}).empty() &&
      !get_string(spec, {"serviceAccount"}).empty())
    spec["serviceAccountName"] = spec["serviceAccount"];
  if (!is_pod) {
    if (spec.contains("serviceAccountName")) spec["serviceAccount"] = spec["serviceAccountName"];
    return;
  }
  if (!spec.contains("enableServiceLinks")) spec["enableServiceLinks"] = true;
  // Requests default to limits for every resource that has a limit and no request.
  for (const char* f : {"containers", "initContainers"}) {
    if (!spec.contains(f) || !spec[f].is_array()) continue;
    for (auto& c : spec[f]) {
      const Json* limits = find_path(c, {"resources", "limits"});
      if (!limits || !limits->is_object() || limits->empty()) continue;
      Json& requests = c["resources"]["requests"];
      if (!requests.is_object()) requests = Json::object();
      for (const auto& [k, v] : limits->items())
        if (!requests.contains(k)) requests[k] = v;
    }
  }
  // Admission defaults a fresh Pod gets: its service account, priority, and the tolerations
  // that let taint-based eviction move it off a failed node after five minutes.
  if (get_string(spec, {"serviceAccountName"}).empty()) spec["serviceAccountName"] = "default";
  spec["serviceAccount"] = spec["serviceAccountName"];
  if (!spec.contains("priority") && get_string(spec, {"priorityClassName"}).empty())
    spec["priority"] = 0;
  if (!spec.contains("preemptionPolicy")) spec["preemptionPolicy"] = "PreemptLowerPriority";
  Json& tolerations = spec["tolerations"];
  if (!tolerations.is_array()) tolerations = Json::array();
  for (const char* key : {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}) {
    bool present = false;
    for (const auto& t : tolerations) {
      std::string k = get_string(t, {"key"}), effect = get_string(t, {"effect"});
      bool matches_all = k.empty() && get_string(t, {"operator"}) == "Exists";
      if ((k == key || matches_all) && (effect.empty() || effect == "NoExecute")) present = true;
    }
    if (!present) {
      // Built once: a create copies the finished toleration rather than an initializer list.
      static const Json not_ready = {{"key", "node.kubernetes.io/not-ready"},
                                     {"operator", "Exists"},
                                     {"effect", "NoExecute"},
                                     {"tolerationSeconds", 300}};
      static const Json unreachable = {{"key", "node.kubernetes.io/unreachable"},
                                       {"operator", "Exists"},
                                       {"effect", "NoExecute"},
                                       {"tolerationSeconds", 300}};
      tolerations.push_back(std::string_view(key) == "node.kubernetes.io/not-ready" ? not_ready
                                                                                    : unreachable);
    }
  }
}

// ---- validation -----------------------------------------------------------------------------

void validate_pod_spec(const Json& spec, const std::string& path, FieldErrors& errs,
                       const std::vector<std::string>& claim_volumes) {
  using K = FieldError::Kind;
  if (!spec.is_object()) return;
  const Json* cs = find_path(spec, {"containers"});
  if (!cs || !cs->is_array() || cs->empty()) add_error(errs, K::required, path + ".containers", "");

  std::set<std::string> volumes;
  if (const Json* vs = find_path(spec, {"volumes"}); vs && vs->is_array())
    for (size_t i = 0; i < vs->size(); ++i) {
      const Json& v = (*vs)[i];
      std::string p = path + ".volumes[" + std::to_string(i) + "]";
      std::string name = get_string(v, {"name"});
      if (name.empty()) continue;  // the schema reports the missing name
      if (!is_dns1123_label(name)) add_error(errs, K::invalid, p + ".name", kDns1123LabelMsg, name);
      if (!volumes.insert(name).second) add_error(errs, K::duplicate, p + ".name", "", name);
      if (v.is_object() && v.size() < 2)
        add_error(errs, K::required, p, "must specify a volume type");
      else if (v.is_object() && v.size() > 2)
        add_error(errs, K::forbidden, p, "may not specify more than 1 volume type");
    }

  std::set<std::string> names;
  for (const char* field : {"initContainers", "containers"}) {
    const Json* list = find_path(spec, {field});
    if (!list || !list->is_array()) continue;
    for (size_t i = 0; i < list->size(); ++i) {
      const Json& c = (*list)[i];
      std::string p = path + "." + field + "[" + std::to_string(i) + "]";
      std::string name = get_string(c, {"name"});
      if (!name.empty()) {
        if (!is_dns1123_label(name))
          add_error(errs, K::invalid, p + ".name", kDns1123LabelMsg, name);
        if (!names.insert(name).second) add_error(errs, K::duplicate, p + ".name", "", name);
      }
      if (get_string(c, {"image"}).empty()) add_error(errs, K::required, p + ".image", "");
      std::set<std::string> port_names;
      if (const Json* ports = find_path(c, {"ports"}); ports && ports->is_array())
        for (size_t j = 0; j < ports->size(); ++j) {
          std::string pn = get_string((*ports)[j], {"name"});
          if (pn.empty()) continue;
          std::string pp = p + ".ports[" + std::to_string(j) + "].name";
          for (const auto& m : port_name_errors(pn)) add_error(errs, K::invalid, pp, m, pn);
          if (!port_names.insert(pn).second) add_error(errs, K::duplicate, pp, "", pn);
        }
      if (const Json* mounts = find_path(c, {"volumeMounts"}); mounts && mounts->is_array())
        for (size_t j = 0; j < mounts->size(); ++j) {
          std::string vn = get_string((*mounts)[j], {"name"});
          if (!vn.empty() && !volumes.count(vn) &&
              std::find(claim_volumes.begin(), claim_volumes.end(), vn) == claim_volumes.end())
            errs.push_back({K::invalid, p + ".volumeMounts[" + std::to_string(j) + "].name",
                            "Not found: " + Json(vn).dump(), vn});
        }
    }
  }
}

}  // namespace k8c::api::detail
