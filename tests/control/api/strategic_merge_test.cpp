// Strategic merge patch against small schemas built with the builder; the cases follow the
// Kubernetes docs ("Update API Objects in Place Using kubectl patch") and the directives of the
// strategic-merge-patch design doc.
#include "control/api/patch.h"

#include <gtest/gtest.h>

namespace k8c::api {
namespace {

SchemaPtr meta_schema() {
  return obj({{"name", str()},
              {"labels", map(str())},
              {"annotations", map(str())},
              {"finalizers", list(str()).merge_set()}});
}

SchemaPtr pod_spec_schema() {
  S env = list(obj({{"name", str()}, {"value", str()}})).merge("name");
  S ports = list(obj({{"containerPort", integer()}, {"protocol", str()}, {"name", str()}}))
                .merge("containerPort");
  S container = obj({{"name", str()},
                     {"image", str()},
                     {"imagePullPolicy", str()},
                     {"args", list(str())},
                     {"env", env},
                     {"ports", ports},
                     {"resources", any()}});
  S volume = obj({{"name", str()},
                  {"emptyDir", obj({{"medium", str()}})},
                  {"configMap", obj({{"name", str()}})}});
  S toleration = obj({{"key", str()}, {"effect", str()}, {"value", str()}});
  return obj({{"containers", list(container).merge("name")},
              {"volumes", list(volume).merge("name")},
              {"tolerations", list(toleration)},
              {"nodeSelector", map(str())},
              {"extra", any()}});
}

SchemaPtr pod_schema() {
  return obj({{"apiVersion", str()},
              {"kind", str()},
              {"metadata", meta_schema()},
              {"spec", pod_spec_schema()}});
}

SchemaPtr deployment_schema() {
  S strategy = obj({{"type", str()},
                    {"rollingUpdate",
                     obj({{"maxSurge", int_or_string()}, {"maxUnavailable", int_or_string()}})}})
                   .strategy("retainKeys");
  S spec = obj({{"replicas", integer()},
                {"strategy", strategy},
                {"template", obj({{"metadata", meta_schema()}, {"spec", pod_spec_schema()}})}});
  return obj({{"metadata", meta_schema()}, {"spec", spec}});
}

Json smp(const Json& original, const Json& patch, const SchemaPtr& schema) {
  PatchError err;
  auto out = apply_strategic_merge_patch(original, patch, schema.get(), &err);
  EXPECT_TRUE(out.has_value()) << err.message;
  return out.value_or(Json());
}

std::string smp_error(const Json& original, const Json& patch, const SchemaPtr& schema) {
  PatchError err;
  auto out = apply_strategic_merge_patch(original, patch, schema.get(), &err);
  EXPECT_FALSE(out.has_value()) << out->dump();
  EXPECT_FALSE(err.message.empty());
  return err.message;
}

// Fails when any key anywhere in `v` is a patch directive.
bool has_directive_keys(const Json& v) {
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!it.key().empty() && it.key()[0] == '$') return true;
      if (has_directive_keys(*it)) return true;
    }
  } else if (v.is_array()) {
    for (const auto& e : v)
      if (has_directive_keys(e)) return true;
  }
  return false;
}

Json demo_deployment() {
  return Json::parse(R"({
    "metadata": {"name": "patch-demo"},
    "spec": {
      "replicas": 2,
      "template": {
        "metadata": {"labels": {"app": "nginx"}},
        "spec": {
          "containers": [{"name": "patch-demo-ctr", "image": "nginx"}],
          "tolerations": [{"effect": "NoSchedule", "key": "dedicated", "value": "test-team"}]
        }
      }
    }
  })");
}

// The docs' first exercise: adding a container merges the list by name. As the docs' output
// shows, a container the live list lacked is placed before the live-only containers.
TEST(StrategicMerge, DocsAddContainerMergesByName) {
  Json out = smp(demo_deployment(), Json::parse(R"({"spec":{"template":{"spec":{
      "containers":[{"name":"patch-demo-ctr-2","image":"redis"}]}}}})"),
                 deployment_schema());
  EXPECT_EQ(out["spec"]["template"]["spec"]["containers"], Json::parse(R"([
      {"name":"patch-demo-ctr-2","image":"redis"},
      {"name":"patch-demo-ctr","image":"nginx"}])"));
  // Everything else is untouched.
  EXPECT_EQ(out["spec"]["replicas"], 2);
  EXPECT_EQ(out["spec"]["template"]["spec"]["tolerations"].size(), 1u);
  EXPECT_EQ(out["metadata"]["name"], "patch-demo");
}

// The docs' tolerations exercise: a list without a patch strategy is replaced.
TEST(StrategicMerge, DocsTolerationsListIsReplaced) {
  Json out = smp(demo_deployment(), Json::parse(R"({"spec":{"template":{"spec":{
      "tolerations":[{"effect":"NoSchedule","key":"disktype","value":"ssd"}]}}}})"),
                 deployment_schema());
  EXPECT_EQ(out["spec"]["template"]["spec"]["tolerations"],
            Json::parse(R"([{"effect":"NoSchedule","key":"disktype","value":"ssd"}])"));
  EXPECT_EQ(out["spec"]["template"]["spec"]["containers"].size(), 1u);
}

TEST(StrategicMerge, ExistingElementMergesInPlace) {
  Json orig = Json::parse(R"({"spec":{"containers":[
      {"name":"a","image":"a:1","args":["x"]},
      {"name":"b","image":"b:1"}]}})");
  Json out = smp(orig, Json::parse(R"({"spec":{"containers":[{"name":"b","image":"b:2"}]}})"),
                 pod_schema());
  EXPECT_EQ(out["spec"]["containers"], Json::parse(R"([
      {"name":"a","image":"a:1","args":["x"]},
      {"name":"b","image":"b:2"}])"));
}

TEST(StrategicMerge, NestedMergeListsByIntegerKey) {
  Json orig = Json::parse(R"({"spec":{"containers":[{"name":"web","ports":[
      {"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}]}]}})");
  Json out = smp(orig, Json::parse(R"({"spec":{"containers":[{"name":"web","ports":[
      {"containerPort":443,"name":"https"}]}]}})"),
                 pod_schema());
  EXPECT_EQ(out["spec"]["containers"][0]["ports"], Json::parse(R"([
      {"containerPort":80,"protocol":"TCP"},
      {"containerPort":443,"protocol":"TCP","name":"https"}])"));
}

TEST(StrategicMerge, VolumesMergeByName) {
  Json orig = Json::parse(R"({"spec":{"volumes":[{"name":"data","emptyDir":{}}]}})");
  Json out = smp(orig, Json::parse(R"({"spec":{"volumes":[
      {"name":"cfg","configMap":{"name":"app-config"}}]}})"),
                 pod_schema());
  EXPECT_EQ(out["spec"]["volumes"], Json::parse(R"([
      {"name":"cfg","configMap":{"name":"app-config"}},
      {"name":"data","emptyDir":{}}])"));
}

TEST(StrategicMerge, PatchDeleteRemovesListElementByKey) {
  Json orig = Json::parse(R"({"spec":{"containers":[{"name":"web","env":[
      {"name":"A","value":"1"},{"name":"B","value":"2"},{"name":"C","value":"3"}]}]}})");
  Json out = smp(orig, Json::parse(R"({"spec":{"containers":[{"name":"web","env":[
      {"name":"B","$patch":"delete"}]}]}})"),
                 pod_schema());
  EXPECT_EQ(out["spec"]["containers"][0]["env"],
            Json::parse(R"([{"name":"A","value":"1"},{"name":"C","value":"3"}])"));
}

TEST(StrategicMerge, PatchDeleteAndAddInOneList) {
  Json orig = Json::parse(R"({"spec":{"containers":[
      {"name":"guestbook","image":"guestbook:latest"},
      {"name":"haproxy","image":"haproxy:latest"}]}})");
  Json out = smp(orig, Json::parse(R"({"spec":{"containers":[
      {"name":"guestbook","resources":{"limits":{"memory":"1Gi"}}},
      {"$patch":"delete","name":"haproxy"},
      {"name":"nginx","image":"nginx:latest"}]}})"),
                 pod_schema());
  EXPECT_EQ(out["spec"]["containers"], Json::parse(R"([
      {"name":"guestbook","image":"guestbook:latest","resources":{"limits":{"memory":"1Gi"}}},
      {"name":"nginx","image":"nginx:latest"}])"));
}

TEST(StrategicMerge, PatchReplaceInListElementReplacesWholeList) {
  Json orig = Json::parse(R"({"spec":{"containers":[
      {"name":"a","image":"a"},{"name":"b","image":"b"}]}})");
  Json out = smp(orig, Json::parse(R"({"spec":{"containers":[
      {"name":"c","image":"c"},{"$patch":"replace"}]}})"),
                 pod_schema());
  EXPECT_EQ(out["spec"]["containers"], Json::parse(R"([{"name":"c","image":"c"}])"));
}

TEST(StrategicMerge, PatchReplaceOnMapReplacesWholeMap) {
  Json orig = Json::parse(R"({"spec":{"nodeSelector":{"disk":"ssd","zone":"a"}}})");
  Json out = smp(orig, Json::parse(R"({"spec":{"nodeSelector":{"$patch":"replace","gpu":"yes"}}})"),
                 pod_schema());
  EXPECT_EQ(out["spec"]["nodeSelector"], Json::parse(R"({"gpu":"yes"})"));
}

TEST(StrategicMerge, PatchMergeOnMapIsTheDefault) {
  Json orig = Json::parse(R"({"spec":{"nodeSelector":{"disk":"ssd"}}})");
  Json out = smp(orig, Json::parse(R"({"spec":{"nodeSelector":{"$patch":"merge","gpu":"yes"}}})"),
                 pod_schema());
  EXPECT_EQ(out["spec"]["nodeSelector"], Json::parse(R"({"disk":"ssd","gpu":"yes"})"));
}

TEST(StrategicMerge, PatchDeleteOnMapRemovesIt) {
  Json orig = Json::parse(R"({"spec":{"nodeSelector":{"disk":"ssd"},"extra":{"a":1}}})");
  Json out =
      smp(orig, Json::parse(R"({"spec":{"nodeSelector":{"$patch":"delete"}}})"), pod_schema());
  EXPECT_FALSE(out["spec"].contains("nodeSelector"));
  EXPECT_EQ(out["spec"]["extra"], Json::parse(R"({"a":1})"));
  // Deleting a map that was never there leaves nothing behind either.
  Json out2 = smp(Json::object(), Json::parse(R"({"spec":{"nodeSelector":{"$patch":"delete"}}})"),
                  pod_schema());
  EXPECT_EQ(out2, Json::parse(R"({"spec":{}})"));
}

// The docs' retainKeys exercise: switching a Deployment to Recreate clears rollingUpdate.
TEST(StrategicMerge, RetainKeysClearsUnlistedFields) {
  Json orig = Json::parse(R"({"spec":{"replicas":3,"strategy":{"type":"RollingUpdate",
      "rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"}}}})");
  Json out = smp(orig, Json::parse(R"({"spec":{"strategy":{"$retainKeys":["type"],
      "type":"Recreate"}}})"),
                 deployment_schema());
  EXPECT_EQ(out["spec"]["strategy"], Json::parse(R"({"type":"Recreate"})"));
  EXPECT_EQ(out["spec"]["replicas"], 3);
}

TEST(StrategicMerge, RetainKeysKeepsListedFieldsAndMergesThem) {
  Json orig = Json::parse(R"({"spec":{"strategy":{"type":"RollingUpdate",
      "rollingUpdate":{"maxSurge":1,"maxUnavailable":0}}}})");
  Json out = smp(orig, Json::parse(R"({"spec":{"strategy":{
      "$retainKeys":["type","rollingUpdate"],"rollingUpdate":{"maxSurge":2}}}})"),
                 deployment_schema());
  EXPECT_EQ(out["spec"]["strategy"], Json::parse(R"({"type":"RollingUpdate",
      "rollingUpdate":{"maxSurge":2,"maxUnavailable":0}})"));
}

TEST(StrategicMerge, WithoutRetainKeysDirectiveAStrategyMapMerges) {
  Json orig = Json::parse(R"({"spec":{"strategy":{"type":"RollingUpdate",
      "rollingUpdate":{"maxSurge":1}}}})");
  Json out =
      smp(orig, Json::parse(R"({"spec":{"strategy":{"type":"Recreate"}}})"), deployment_schema());
  EXPECT_EQ(out["spec"]["strategy"],
            Json::parse(R"({"type":"Recreate","rollingUpdate":{"maxSurge":1}})"));
}

TEST(StrategicMerge, RetainKeysErrors) {
  Json orig = Json::parse(R"({"spec":{"strategy":{"type":"RollingUpdate"}}})");
  // A field set by the patch must be listed.
  EXPECT_NE(smp_error(orig, Json::parse(R"({"spec":{"strategy":{"$retainKeys":["type"],
      "rollingUpdate":{"maxSurge":1}}}})"),
                      deployment_schema())
                .find("retainKeys"),
            std::string::npos);
  // The directive must be a list.
  smp_error(orig, Json::parse(R"({"spec":{"strategy":{"$retainKeys":"type"}}})"),
            deployment_schema());
}

TEST(StrategicMerge, SetElementOrderReordersMergeList) {
  Json orig = Json::parse(R"({"spec":{"containers":[
      {"name":"a","image":"a"},{"name":"b","image":"b"},{"name":"c","image":"c"}]}})");
  Json out = smp(orig, Json::parse(R"({"spec":{
      "$setElementOrder/containers":[{"name":"c"},{"name":"a"},{"name":"b"}]}})"),
                 pod_schema());
  EXPECT_EQ(out["spec"]["containers"], Json::parse(R"([
      {"name":"c","image":"c"},{"name":"a","image":"a"},{"name":"b","image":"b"}])"));
  EXPECT_FALSE(has_directive_keys(out));
}

TEST(StrategicMerge, SetElementOrderWithChangesAndAdditions) {
  Json orig = Json::parse(R"({"spec":{"containers":[
      {"name":"a","image":"a:1"},{"name":"b","image":"b:1"}]}})");
  Json out = smp(orig, Json::parse(R"({"spec":{
      "$setElementOrder/containers":[{"name":"b"},{"name":"new"},{"name":"a"}],
      "containers":[{"name":"b","image":"b:2"},{"name":"new","image":"n"}]}})"),
                 pod_schema());
  EXPECT_EQ(out["spec"]["containers"], Json::parse(R"([
      {"name":"b","image":"b:2"},{"name":"new","image":"n"},{"name":"a","image":"a:1"}])"));
}

// Live-only elements (say, an injected sidecar) keep their live position relative to the
// elements the directive orders, as Kubernetes interleaves them.
TEST(StrategicMerge, SetElementOrderKeepsServerOnlyElementsInPlace) {
  Json orig = Json::parse(R"({"spec":{"containers":[
      {"name":"a"},{"name":"sidecar"},{"name":"b"}]}})");
  Json out = smp(orig, Json::parse(R"({"spec":{
      "$setElementOrder/containers":[{"name":"a"},{"name":"b"}]}})"),
                 pod_schema());
  EXPECT_EQ(out["spec"]["containers"],
            Json::parse(R"([{"name":"a"},{"name":"sidecar"},{"name":"b"}])"));
  // Reversed, b and a swap; the sidecar stays ahead of b, as it was in the live list.
  Json out2 = smp(orig, Json::parse(R"({"spec":{
      "$setElementOrder/containers":[{"name":"b"},{"name":"a"}]}})"),
                  pod_schema());
  EXPECT_EQ(out2["spec"]["containers"],
            Json::parse(R"([{"name":"sidecar"},{"name":"b"},{"name":"a"}])"));
}

TEST(StrategicMerge, SetElementOrderOnPrimitiveSetList) {
  Json orig = Json::parse(R"({"metadata":{"finalizers":["a","b","c"]}})");
  Json out = smp(orig, Json::parse(R"({"metadata":{
      "$setElementOrder/finalizers":["c","b","a"]}})"),
                 pod_schema());
  EXPECT_EQ(out["metadata"]["finalizers"], Json::parse(R"(["c","b","a"])"));
}

TEST(StrategicMerge, SetElementOrderMustAgreeWithPatchList) {
  Json orig = Json::parse(R"({"spec":{"containers":[{"name":"a"},{"name":"b"}]}})");
  std::string msg = smp_error(orig, Json::parse(R"({"spec":{
      "$setElementOrder/containers":[{"name":"a"},{"name":"b"}],
      "containers":[{"name":"b","image":"x"},{"name":"a","image":"y"}]}})"),
                              pod_schema());
  EXPECT_NE(msg.find("$setElementOrder"), std::string::npos) << msg;
  // Entries of a map list's order directive need the merge key.
  smp_error(orig, Json::parse(R"({"spec":{"$setElementOrder/containers":[{"image":"a"}]}})"),
            pod_schema());
  // The directive must be a list.
  smp_error(orig, Json::parse(R"({"spec":{"$setElementOrder/containers":{"name":"a"}}})"),
            pod_schema());
}

// The exact shape `kubectl apply` sends to remove env var B from container web.
TEST(StrategicMerge, KubectlApplyRemovesEnvEntry) {
  Json orig = Json::parse(R"({"metadata":{"name":"web"},"spec":{"replicas":1,"template":{
      "metadata":{"labels":{"app":"web"}},
      "spec":{"containers":[{"name":"web","image":"nginx","env":[
        {"name":"A","value":"1"},{"name":"B","value":"2"}]}]}}}})");
  Json patch = Json::parse(
      R"({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"}],"containers":[{"$setElementOrder/env":[{"name":"A"}],"env":[{"$patch":"delete","name":"B"}],"name":"web"}]}}}})");
  Json out = smp(orig, patch, deployment_schema());
  EXPECT_EQ(out["spec"]["template"]["spec"]["containers"],
            Json::parse(R"([{"name":"web","image":"nginx","env":[{"name":"A","value":"1"}]}])"));
  EXPECT_FALSE(has_directive_keys(out)) << out.dump();
  EXPECT_EQ(out["spec"]["template"]["metadata"]["labels"]["app"], "web");
}

TEST(StrategicMerge, KubectlApplyAddsEnvEntryInOrder) {
  Json orig = Json::parse(R"({"spec":{"template":{"spec":{"containers":[
      {"name":"web","image":"nginx","env":[{"name":"A","value":"1"},{"name":"C","value":"3"}]}]}}}})");
  Json patch = Json::parse(R"({"spec":{"template":{"spec":{
      "$setElementOrder/containers":[{"name":"web"}],
      "containers":[{"name":"web",
        "$setElementOrder/env":[{"name":"A"},{"name":"B"},{"name":"C"}],
        "env":[{"name":"B","value":"2"}]}]}}}})");
  Json out = smp(orig, patch, deployment_schema());
  EXPECT_EQ(out["spec"]["template"]["spec"]["containers"][0]["env"], Json::parse(R"([
      {"name":"A","value":"1"},{"name":"B","value":"2"},{"name":"C","value":"3"}])"));
}

TEST(StrategicMerge, DirectivesInsideNewElementsAreApplied) {
  Json orig = Json::parse(R"({"spec":{"containers":[{"name":"a"}]}})");
  Json patch = Json::parse(R"({"spec":{
      "$setElementOrder/containers":[{"name":"a"},{"name":"b"}],
      "containers":[{"name":"b","image":"b","args":null,
        "$setElementOrder/env":[{"name":"X"}],"env":[{"name":"X","value":"x"}]}]}})");
  Json out = smp(orig, patch, pod_schema());
  EXPECT_EQ(out["spec"]["containers"], Json::parse(R"([{"name":"a"},
      {"name":"b","image":"b","env":[{"name":"X","value":"x"}]}])"));
  EXPECT_FALSE(has_directive_keys(out)) << out.dump();
}

TEST(StrategicMerge, PrimitiveSetListUnion) {
  Json orig = Json::parse(R"({"metadata":{"finalizers":["a","b"]}})");
  Json out = smp(orig, Json::parse(R"({"metadata":{"finalizers":["b","c"]}})"), pod_schema());
  EXPECT_EQ(out["metadata"]["finalizers"], Json::parse(R"(["a","b","c"])"));
  // Duplicates collapse; no value is lost.
  Json out2 = smp(orig, Json::parse(R"({"metadata":{"finalizers":["a","a"]}})"), pod_schema());
  EXPECT_EQ(out2["metadata"]["finalizers"], Json::parse(R"(["a","b"])"));
}

// Kubernetes orders merged lists the same way for primitives: values the live list lacked come
// before the live-only ones, unless a $setElementOrder list says otherwise.
TEST(StrategicMerge, PrimitiveSetListOrderFollowsKubernetes) {
  Json orig = Json::parse(R"({"metadata":{"finalizers":["a","b"]}})");
  EXPECT_EQ(smp(orig, Json::parse(R"({"metadata":{"finalizers":["c"]}})"),
                pod_schema())["metadata"]["finalizers"],
            Json::parse(R"(["c","a","b"])"));
  EXPECT_EQ(smp(orig, Json::parse(R"({"metadata":{"finalizers":["c"],
                "$setElementOrder/finalizers":["a","b","c"]}})"),
                pod_schema())["metadata"]["finalizers"],
            Json::parse(R"(["a","b","c"])"));
}

TEST(StrategicMerge, TopLevelDirectives) {
  Json orig = Json::parse(R"({"metadata":{"name":"x"},"spec":{"nodeSelector":{"a":"b"}}})");
  EXPECT_EQ(smp(orig, Json::parse(R"({"$patch":"replace","spec":{"extra":1}})"), pod_schema()),
            Json::parse(R"({"spec":{"extra":1}})"));
  EXPECT_EQ(smp(orig, Json::parse(R"({"$patch":"delete"})"), pod_schema()), Json::object());
}

TEST(StrategicMerge, DeleteFromPrimitiveList) {
  Json orig = Json::parse(R"({"metadata":{"finalizers":["a","b","c"]}})");
  Json out = smp(orig, Json::parse(R"({"metadata":{
      "$deleteFromPrimitiveList/finalizers":["b","zzz"]}})"),
                 pod_schema());
  EXPECT_EQ(out["metadata"]["finalizers"], Json::parse(R"(["a","c"])"));
  // What `kubectl apply` sends to drop one finalizer.
  Json out2 = smp(orig, Json::parse(R"({"metadata":{
      "$setElementOrder/finalizers":["a","c"],"$deleteFromPrimitiveList/finalizers":["b"]}})"),
                  pod_schema());
  EXPECT_EQ(out2["metadata"]["finalizers"], Json::parse(R"(["a","c"])"));
  EXPECT_FALSE(has_directive_keys(out2));
  // Against a missing list it is a no-op, and it must be a list.
  Json out3 = smp(Json::object(), Json::parse(R"({"metadata":{
      "$deleteFromPrimitiveList/finalizers":["b"]}})"),
                  pod_schema());
  EXPECT_EQ(out3, Json::parse(R"({"metadata":{}})"));
  smp_error(orig, Json::parse(R"({"metadata":{"$deleteFromPrimitiveList/finalizers":"b"}})"),
            pod_schema());
}

TEST(StrategicMerge, NullDeletesKeysAndLists) {
  Json orig = Json::parse(R"({"metadata":{"labels":{"a":"1","b":"2"},"finalizers":["x"]},
      "spec":{"containers":[{"name":"a"}]}})");
  Json out = smp(orig, Json::parse(R"({"metadata":{"labels":{"a":null},"finalizers":null},
      "spec":{"containers":null,"missing":null}})"),
                 pod_schema());
  EXPECT_EQ(out, Json::parse(R"({"metadata":{"labels":{"b":"2"}},"spec":{}})"));
}

TEST(StrategicMerge, FieldsAbsentFromOriginalAndNullOriginal) {
  Json patch = Json::parse(R"({"metadata":{"labels":{"a":"1","gone":null}},
      "spec":{"containers":[{"name":"web","image":"nginx"},{"name":"x","$patch":"delete"}]}})");
  Json expect = Json::parse(R"({"metadata":{"labels":{"a":"1"}},
      "spec":{"containers":[{"name":"web","image":"nginx"}]}})");
  EXPECT_EQ(smp(Json::object(), patch, pod_schema()), expect);
  EXPECT_EQ(smp(Json(), patch, pod_schema()), expect);
  // A field whose original value is null is treated as absent.
  EXPECT_EQ(
      smp(Json::parse(R"({"metadata":null,"spec":{"containers":null}})"), patch, pod_schema()),
      expect);
}

TEST(StrategicMerge, NoSchemaMeansMergePatchSemantics) {
  Json orig = Json::parse(R"({"a":{"b":1,"c":[1,2]},"l":[{"name":"x"}]})");
  Json patch = Json::parse(R"({"a":{"d":2,"c":[3]},"l":[{"name":"y"}]})");
  Json expect = Json::parse(R"({"a":{"b":1,"c":[3],"d":2},"l":[{"name":"y"}]})");
  PatchError err;
  auto out = apply_strategic_merge_patch(orig, patch, nullptr, &err);
  ASSERT_TRUE(out) << err.message;
  EXPECT_EQ(*out, expect);
  // Unknown fields and free-form (any) fields behave the same under a schema.
  EXPECT_EQ(smp(Json::parse(R"({"spec":{"unknown":[1,2],"extra":{"l":[1],"k":1}}})"),
                Json::parse(R"({"spec":{"unknown":[3],"extra":{"l":[2]}}})"), pod_schema()),
            Json::parse(R"({"spec":{"unknown":[3],"extra":{"l":[2],"k":1}}})"));
}

TEST(StrategicMerge, ChangingKindReplaces) {
  Json orig = Json::parse(R"({"spec":{"extra":{"a":1},"nodeSelector":{"k":"v"}}})");
  Json out = smp(orig, Json::parse(R"({"spec":{"extra":[1,2],"nodeSelector":"x"}})"), pod_schema());
  EXPECT_EQ(out, Json::parse(R"({"spec":{"extra":[1,2],"nodeSelector":"x"}})"));
}

TEST(StrategicMerge, EmptyPatchIsIdentity) {
  Json orig = demo_deployment();
  EXPECT_EQ(smp(orig, Json::object(), deployment_schema()), orig);
}

TEST(StrategicMerge, ErrorsAreReportedNotThrown) {
  Json orig = Json::parse(R"({"spec":{"containers":[{"name":"a"}]}})");
  // A merge-list element without its merge key.
  std::string msg =
      smp_error(orig, Json::parse(R"({"spec":{"containers":[{"image":"x"}]}})"), pod_schema());
  EXPECT_NE(msg.find("does not contain declared merge key: name"), std::string::npos) << msg;
  // A delete directive without the merge key.
  smp_error(orig, Json::parse(R"({"spec":{"containers":[{"$patch":"delete"}]}})"), pod_schema());
  // Unknown directive values, on maps and in lists.
  msg = smp_error(orig, Json::parse(R"({"spec":{"$patch":"bogus"}})"), pod_schema());
  EXPECT_NE(msg.find("bogus"), std::string::npos) << msg;
  smp_error(orig, Json::parse(R"({"spec":{"containers":[{"name":"a","$patch":"bogus"}]}})"),
            pod_schema());
  // `$patch: merge` is not supported on a list.
  smp_error(orig, Json::parse(R"({"spec":{"containers":[{"$patch":"merge"}]}})"), pod_schema());
  // Mixed element kinds in a merge list.
  smp_error(orig, Json::parse(R"({"spec":{"containers":["a"]}})"), pod_schema());
  // The patch must be an object, the original an object or null.
  smp_error(orig, Json::parse(R"([1])"), pod_schema());
  smp_error(Json::parse(R"("str")"), Json::object(), pod_schema());
}

TEST(StrategicMerge, NullErrorPointerIsAllowed) {
  EXPECT_FALSE(apply_strategic_merge_patch(Json::object(), Json(1), nullptr, nullptr));
}

TEST(StrategicMerge, ReplaceStrategyOnMapField) {
  S s = obj({{"spec", obj({{"selector", map(str()).strategy("replace")}})}});
  Json out = smp(Json::parse(R"({"spec":{"selector":{"a":"1"}}})"),
                 Json::parse(R"({"spec":{"selector":{"b":"2"}}})"), s);
  EXPECT_EQ(out, Json::parse(R"({"spec":{"selector":{"b":"2"}}})"));
}

}  // namespace
}  // namespace k8c::api
