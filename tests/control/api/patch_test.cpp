// JSON patch (RFC 6902, including its appendix A examples) and JSON merge patch (RFC 7386,
// including its appendix A table).
#include "control/api/patch.h"

#include <gtest/gtest.h>

namespace k8c::api {
namespace {

Json jp(const Json& doc, const char* patch) {
  PatchError err;
  auto out = apply_json_patch(doc, Json::parse(patch), &err);
  EXPECT_TRUE(out.has_value()) << err.message;
  return out.value_or(Json());
}

std::string jp_error(const Json& doc, const char* patch) {
  PatchError err;
  auto out = apply_json_patch(doc, Json::parse(patch), &err);
  EXPECT_FALSE(out.has_value()) << out->dump();
  EXPECT_FALSE(err.message.empty());
  return err.message;
}

TEST(JsonPatch, AddObjectMember) {
  EXPECT_EQ(jp(Json::parse(R"({"foo":"bar"})"), R"([{"op":"add","path":"/baz","value":"qux"}])"),
            Json::parse(R"({"baz":"qux","foo":"bar"})"));
}

TEST(JsonPatch, AddArrayElementInsertsBeforeIndex) {
  EXPECT_EQ(jp(Json::parse(R"({"foo":["bar","baz"]})"),
               R"([{"op":"add","path":"/foo/1","value":"qux"}])"),
            Json::parse(R"({"foo":["bar","qux","baz"]})"));
  // Index == size appends, as does "-".
  EXPECT_EQ(jp(Json::parse(R"({"foo":[1]})"), R"([{"op":"add","path":"/foo/1","value":2}])"),
            Json::parse(R"({"foo":[1,2]})"));
  EXPECT_EQ(jp(Json::parse(R"({"foo":[1,2]})"), R"([{"op":"add","path":"/foo/-","value":3}])"),
            Json::parse(R"({"foo":[1,2,3]})"));
}

TEST(JsonPatch, AddReplacesExistingMemberAndRoot) {
  EXPECT_EQ(jp(Json::parse(R"({"a":1})"), R"([{"op":"add","path":"/a","value":[2]}])"),
            Json::parse(R"({"a":[2]})"));
  EXPECT_EQ(jp(Json::parse(R"({"a":1})"), R"([{"op":"add","path":"","value":{"b":2}}])"),
            Json::parse(R"({"b":2})"));
}

TEST(JsonPatch, AddNestedAndErrors) {
  EXPECT_EQ(jp(Json::parse(R"({"metadata":{}})"),
               R"([{"op":"add","path":"/metadata/labels","value":{"app":"web"}}])"),
            Json::parse(R"({"metadata":{"labels":{"app":"web"}}})"));
  // The parent must exist (RFC 6902 appendix A.12).
  std::string msg = jp_error(Json::parse(R"({"foo":"bar"})"),
                             R"([{"op":"add","path":"/baz/bat","value":"qux"}])");
  EXPECT_NE(msg.find("/baz/bat"), std::string::npos) << msg;
  jp_error(Json::parse(R"({"foo":[1]})"), R"([{"op":"add","path":"/foo/5","value":1}])");
  jp_error(Json::parse(R"({"foo":[1]})"), R"([{"op":"add","path":"/foo/01","value":1}])");
  jp_error(Json::parse(R"({"foo":[1]})"), R"([{"op":"add","path":"/foo/x","value":1}])");
  jp_error(Json::parse(R"({"a":1})"), R"([{"op":"add","path":"/b"}])");  // no value
}

TEST(JsonPatch, RemoveMembersAndElements) {
  EXPECT_EQ(jp(Json::parse(R"({"baz":"qux","foo":"bar"})"), R"([{"op":"remove","path":"/baz"}])"),
            Json::parse(R"({"foo":"bar"})"));
  EXPECT_EQ(
      jp(Json::parse(R"({"foo":["bar","qux","baz"]})"), R"([{"op":"remove","path":"/foo/1"}])"),
      Json::parse(R"({"foo":["bar","baz"]})"));
  std::string msg = jp_error(Json::parse(R"({"a":1})"), R"([{"op":"remove","path":"/b"}])");
  EXPECT_NE(msg.find("nonexistent"), std::string::npos) << msg;
  jp_error(Json::parse(R"({"a":[1]})"), R"([{"op":"remove","path":"/a/1"}])");
  jp_error(Json::parse(R"({"a":[1]})"), R"([{"op":"remove","path":"/a/-"}])");
  jp_error(Json::parse(R"({"a":1})"), R"([{"op":"remove","path":""}])");
}

TEST(JsonPatch, Replace) {
  EXPECT_EQ(jp(Json::parse(R"({"baz":"qux","foo":"bar"})"),
               R"([{"op":"replace","path":"/baz","value":"boo"}])"),
            Json::parse(R"({"baz":"boo","foo":"bar"})"));
  EXPECT_EQ(jp(Json::parse(R"({"spec":{"replicas":1}})"),
               R"([{"op":"replace","path":"/spec/replicas","value":3}])"),
            Json::parse(R"({"spec":{"replicas":3}})"));
  EXPECT_EQ(jp(Json::parse(R"([1,2])"), R"([{"op":"replace","path":"","value":"x"}])"), "x");
  std::string msg =
      jp_error(Json::parse(R"({"a":1})"), R"([{"op":"replace","path":"/b","value":2}])");
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
}

TEST(JsonPatch, Move) {
  EXPECT_EQ(jp(Json::parse(R"({"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}})"),
               R"([{"op":"move","from":"/foo/waldo","path":"/qux/thud"}])"),
            Json::parse(R"({"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}})"));
  EXPECT_EQ(jp(Json::parse(R"({"foo":["all","grass","cows","eat"]})"),
               R"([{"op":"move","from":"/foo/1","path":"/foo/3"}])"),
            Json::parse(R"({"foo":["all","cows","eat","grass"]})"));
  EXPECT_EQ(jp(Json::parse(R"({"a":1})"), R"([{"op":"move","from":"/a","path":"/a"}])"),
            Json::parse(R"({"a":1})"));
  jp_error(Json::parse(R"({"a":{"b":1}})"), R"([{"op":"move","from":"/a","path":"/a/b/c"}])");
  jp_error(Json::parse(R"({"a":1})"), R"([{"op":"move","from":"/x","path":"/y"}])");
  jp_error(Json::parse(R"({"a":1})"), R"([{"op":"move","path":"/y"}])");  // no from
}

TEST(JsonPatch, Copy) {
  EXPECT_EQ(jp(Json::parse(R"({"a":{"b":[1]}})"), R"([{"op":"copy","from":"/a","path":"/c"}])"),
            Json::parse(R"({"a":{"b":[1]},"c":{"b":[1]}})"));
  EXPECT_EQ(jp(Json::parse(R"({"l":[1,2]})"), R"([{"op":"copy","from":"/l/0","path":"/l/-"}])"),
            Json::parse(R"({"l":[1,2,1]})"));
  jp_error(Json::parse(R"({"a":1})"), R"([{"op":"copy","from":"/x","path":"/y"}])");
}

TEST(JsonPatch, TestOperation) {
  Json doc = Json::parse(R"({"baz":"qux","foo":["a",2,"c"],"n":1})");
  EXPECT_EQ(jp(doc, R"([{"op":"test","path":"/baz","value":"qux"},
                        {"op":"test","path":"/foo/1","value":2},
                        {"op":"test","path":"/n","value":1.0}])"),
            doc);
  std::string msg = jp_error(doc, R"([{"op":"test","path":"/baz","value":"bar"}])");
  EXPECT_NE(msg.find("test failed"), std::string::npos) << msg;
  jp_error(doc, R"([{"op":"test","path":"/missing","value":1}])");
  // A failed test leaves nothing half-applied: the whole patch is rejected.
  jp_error(doc, R"([{"op":"add","path":"/x","value":1},{"op":"test","path":"/x","value":2}])");
}

TEST(JsonPatch, PointerEscaping) {
  Json doc = Json::parse(R"({"a/b":1,"m~n":2,"":3})");
  EXPECT_EQ(jp(doc, R"([{"op":"replace","path":"/a~1b","value":10},
                        {"op":"replace","path":"/m~0n","value":20},
                        {"op":"replace","path":"/","value":30}])"),
            Json::parse(R"({"a/b":10,"m~n":20,"":30})"));
  // Annotations with '/' in their keys are the everyday case.
  EXPECT_EQ(jp(Json::parse(R"({"metadata":{"annotations":{}}})"),
               R"([{"op":"add","path":"/metadata/annotations/example.com~1team","value":"x"}])"),
            Json::parse(R"({"metadata":{"annotations":{"example.com/team":"x"}}})"));
  jp_error(doc, R"([{"op":"add","path":"/a~2b","value":1}])");
  jp_error(doc, R"([{"op":"add","path":"/a~","value":1}])");
  jp_error(doc, R"([{"op":"add","path":"a","value":1}])");
}

TEST(JsonPatch, MalformedPatches) {
  Json doc = Json::parse(R"({"a":1})");
  jp_error(doc, R"({"op":"add","path":"/b","value":1})");  // not a list
  jp_error(doc, R"([1])");
  jp_error(doc, R"([{"path":"/a"}])");
  jp_error(doc, R"([{"op":"add","value":1}])");
  std::string msg = jp_error(doc, R"([{"op":"frobnicate","path":"/a"}])");
  EXPECT_NE(msg.find("frobnicate"), std::string::npos) << msg;
  // A null error pointer is allowed.
  EXPECT_FALSE(apply_json_patch(doc, Json::parse(R"([{"op":"remove","path":"/x"}])"), nullptr));
}

TEST(JsonPatch, EmptyPatchIsIdentityAndOriginalIsUntouched) {
  Json doc = Json::parse(R"({"a":[1,2]})");
  EXPECT_EQ(jp(doc, "[]"), doc);
  jp(doc, R"([{"op":"remove","path":"/a/0"}])");
  EXPECT_EQ(doc, Json::parse(R"({"a":[1,2]})"));
}

Json mp(const char* target, const char* patch) {
  PatchError err;
  auto out = apply_merge_patch(Json::parse(target), Json::parse(patch), &err);
  EXPECT_TRUE(out.has_value()) << err.message;
  return out.value_or(Json());
}

// RFC 7386 appendix A, row by row.
TEST(MergePatch, RfcExamples) {
  EXPECT_EQ(mp(R"({"a":"b"})", R"({"a":"c"})"), Json::parse(R"({"a":"c"})"));
  EXPECT_EQ(mp(R"({"a":"b"})", R"({"b":"c"})"), Json::parse(R"({"a":"b","b":"c"})"));
  EXPECT_EQ(mp(R"({"a":"b"})", R"({"a":null})"), Json::parse(R"({})"));
  EXPECT_EQ(mp(R"({"a":"b","b":"c"})", R"({"a":null})"), Json::parse(R"({"b":"c"})"));
  EXPECT_EQ(mp(R"({"a":["b"]})", R"({"a":"c"})"), Json::parse(R"({"a":"c"})"));
  EXPECT_EQ(mp(R"({"a":"c"})", R"({"a":["b"]})"), Json::parse(R"({"a":["b"]})"));
  EXPECT_EQ(mp(R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})"),
            Json::parse(R"({"a":{"b":"d"}})"));
  EXPECT_EQ(mp(R"({"a":[{"b":"c"}]})", R"({"a":[1]})"), Json::parse(R"({"a":[1]})"));
  EXPECT_EQ(mp(R"(["a","b"])", R"(["c","d"])"), Json::parse(R"(["c","d"])"));
  EXPECT_EQ(mp(R"({"a":"b"})", R"(["c"])"), Json::parse(R"(["c"])"));
  EXPECT_EQ(mp(R"({"a":"foo"})", "null"), Json());
  EXPECT_EQ(mp(R"({"a":"foo"})", R"("bar")"), Json("bar"));
  EXPECT_EQ(mp(R"({"e":null})", R"({"a":1})"), Json::parse(R"({"e":null,"a":1})"));
  EXPECT_EQ(mp(R"([1,2])", R"({"a":"b","c":null})"), Json::parse(R"({"a":"b"})"));
  EXPECT_EQ(mp("{}", R"({"a":{"bb":{"ccc":null}}})"), Json::parse(R"({"a":{"bb":{}}})"));
}

TEST(MergePatch, KubernetesShapedPatches) {
  Json out = mp(R"({"metadata":{"labels":{"app":"web","tier":"fe"}},"spec":{"replicas":1,
                   "template":{"spec":{"containers":[{"name":"a"},{"name":"b"}]}}}})",
                R"({"metadata":{"labels":{"tier":null,"env":"prod"}},"spec":{"replicas":3,
                   "template":{"spec":{"containers":[{"name":"c"}]}}}})");
  EXPECT_EQ(out, Json::parse(R"({"metadata":{"labels":{"app":"web","env":"prod"}},
      "spec":{"replicas":3,"template":{"spec":{"containers":[{"name":"c"}]}}}})"));
}

}  // namespace
}  // namespace k8c::api
