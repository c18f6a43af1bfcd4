#include "common/json.h"

#include <gtest/gtest.h>

namespace k8c {
namespace {

std::vector<Json> docs(std::string_view text) {
  std::string err;
  auto d = parse_yaml_documents(text, &err);
  EXPECT_TRUE(d.has_value()) << err;
  return d.value_or(std::vector<Json>{});
}

TEST(Json, ParseJsonReportsPosition) {
  std::string err;
  auto ok = parse_json(R"({"a": [1, 2.5, "x", null, true]})", &err);
  ASSERT_TRUE(ok);
  EXPECT_EQ((*ok)["a"][1], 2.5);
  EXPECT_FALSE(parse_json(R"({"a": )", &err));
  EXPECT_NE(err.find("parse error"), std::string::npos) << err;
  err.clear();
  EXPECT_FALSE(parse_json("", &err));
  EXPECT_FALSE(err.empty());
}

TEST(Json, YamlMultiDocumentSkipsEmptyOnes) {
  auto d = docs(
      "---\n"
      "apiVersion: v1\n"
      "kind: ConfigMap\n"
      "---\n"
      "---\n"
      "# only a comment\n"
      "---\n"
      "apiVersion: v1\n"
      "kind: Service\n"
      "...\n");
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0]["kind"], "ConfigMap");
  EXPECT_EQ(d[1]["kind"], "Service");
  EXPECT_TRUE(docs("").empty());
}

TEST(Json, QuotedScalarsStayStrings) {
  auto d = docs(
      "plain_int: 80\n"
      "quoted_int: \"80\"\n"
      "single: '80'\n"
      "plain_bool: true\n"
      "quoted_bool: \"true\"\n"
      "plain_null: null\n"
      "tilde: ~\n"
      "empty:\n"
      "quoted_null: 'null'\n"
      "float: 1.5\n"
      "exp: 1e3\n"
      "neg: -7\n"
      "hex: 0x1F\n"
      "oct: 0o17\n"
      "version: 1.20.0\n"
      "yes_is_string: yes\n"
      "literal: |\n"
      "  42\n"
      "str: hello world\n");
  ASSERT_EQ(d.size(), 1u);
  const Json& j = d[0];
  EXPECT_EQ(j["plain_int"], 80);
  EXPECT_TRUE(j["plain_int"].is_number_integer());
  EXPECT_EQ(j["quoted_int"], "80");
  EXPECT_EQ(j["single"], "80");
  EXPECT_EQ(j["plain_bool"], true);
  EXPECT_EQ(j["quoted_bool"], "true");
  EXPECT_TRUE(j["plain_null"].is_null());
  EXPECT_TRUE(j["tilde"].is_null());
  EXPECT_TRUE(j["empty"].is_null());
  EXPECT_EQ(j["quoted_null"], "null");
  EXPECT_EQ(j["float"], 1.5);
  EXPECT_EQ(j["exp"], 1000.0);
  EXPECT_EQ(j["neg"], -7);
  EXPECT_EQ(j["hex"], 31);
  EXPECT_EQ(j["oct"], 15);
  EXPECT_EQ(j["version"], "1.20.0");
  EXPECT_EQ(j["yes_is_string"], "yes");  // YAML 1.2: only true/false are booleans
  EXPECT_EQ(j["literal"], "42\n");
  EXPECT_EQ(j["str"], "hello world");
}

TEST(Json, ExplicitStringTagStaysString) {
  auto d = docs("a: !!str 123\nb: !!str true\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0]["a"], "123");
  EXPECT_EQ(d[0]["b"], "true");
}

TEST(Json, OutOfRangeNumbersDoNotFailTheDocument) {
  std::string err;
  auto d =
      parse_yaml_documents("a: 0xFFFFFFFFFFFFFFFFFFFF\nb: 0o7777777777777777777777777\n", &err);
  ASSERT_TRUE(d) << err;
  EXPECT_TRUE((*d)[0]["a"].is_string());
  EXPECT_TRUE((*d)[0]["b"].is_string());
  auto big = parse_yaml_documents("n: 99999999999999999999\n", &err);
  ASSERT_TRUE(big) << err;
  EXPECT_TRUE((*big)[0]["n"].is_number());
}

TEST(Json, NestedStructures) {
  auto d = docs(
      "spec:\n"
      "  containers:\n"
      "  - name: web\n"
      "    ports:\n"
      "    - containerPort: 80\n"
      "    args: [\"--a\", b]\n"
      "  labels: {app: web}\n");
  ASSERT_EQ(d.size(), 1u);
  const Json& c = d[0]["spec"]["containers"][0];
  EXPECT_EQ(c["name"], "web");
  EXPECT_EQ(c["ports"][0]["containerPort"], 80);
  EXPECT_EQ(c["args"], Json::array({"--a", "b"}));
  EXPECT_EQ(d[0]["spec"]["labels"]["app"], "web");
}

TEST(Json, MalformedYamlReportsLine) {
  std::string err;
  EXPECT_FALSE(parse_yaml_documents("a: 1\nb: [1, 2\nc: 3\n", &err));
  EXPECT_EQ(err.rfind("yaml: line ", 0), 0u) << err;
  err.clear();
  EXPECT_FALSE(parse_yaml_documents("a: 1\n  b: 2\n", &err));
  EXPECT_FALSE(err.empty());
  err.clear();
  EXPECT_FALSE(parse_yaml_documents("? [a, b]\n: c\n", &err));  // non-scalar key
  EXPECT_FALSE(err.empty());
}

TEST(Json, JsonOrYaml) {
  std::string err;
  auto j = parse_json_or_yaml(R"(  {"kind": "Pod"})", &err);
  ASSERT_TRUE(j) << err;
  EXPECT_EQ((*j)["kind"], "Pod");
  auto y = parse_json_or_yaml("kind: Pod\n", &err);
  ASSERT_TRUE(y) << err;
  EXPECT_EQ((*y)["kind"], "Pod");
  EXPECT_FALSE(parse_json_or_yaml("a: 1\n---\nb: 2\n", &err));
  EXPECT_NE(err.find("exactly one"), std::string::npos) << err;
  EXPECT_FALSE(parse_json_or_yaml("{\"a\": ", &err));
}

TEST(Json, ToYamlRoundTrips) {
  Json v = {{"name", "web"},
            {"replicas", 3},
            {"ratio", 0.5},
            {"enabled", false},
            {"nothing", nullptr},
            {"looks_like_int", "80"},
            {"looks_like_bool", "true"},
            {"empty", ""},
            {"multi", "line one\nline two"},
            {"colon", "a: b"},
            {"dash", "- x"},
            {"hash", "#comment"},
            {"list", {1, "two", Json::object()}},
            {"nested", {{"k", "v"}}}};
  std::string text = to_yaml(v);
  std::string err;
  auto back = parse_yaml_documents(text, &err);
  ASSERT_TRUE(back) << err << "\n" << text;
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0], v) << text;
}

TEST(Json, PathHelpers) {
  Json obj = {{"metadata", {{"name", "a"}, {"labels", {{"x", "y"}}}}}, {"n", 1}};
  ASSERT_NE(find_path(obj, {"metadata", "labels", "x"}), nullptr);
  EXPECT_EQ(*find_path(obj, {"metadata", "labels", "x"}), "y");
  EXPECT_EQ(find_path(obj, {"metadata", "missing"}), nullptr);
  EXPECT_EQ(find_path(obj, {"n", "deeper"}), nullptr);
  EXPECT_EQ(get_string(obj, {"metadata", "name"}), "a");
  EXPECT_EQ(get_string(obj, {"n"}, "fallback"), "fallback");
  EXPECT_EQ(get_string(obj, {"nope"}), "");
}

TEST(JsonMember, FindsTopLevelMembersWithoutParsing) {
  std::string_view obj =
      R"( {"kind":"Pod", "spec":{"metadata":"decoy","a":[1,{"b":"}"}]},)"
      R"("metadata" : {"name":"x","labels":{"q":"say \"}\" twice"}} , "n": -1.5e3, "t":true})";
  EXPECT_EQ(json_member(obj, "kind"), "\"Pod\"");
  EXPECT_EQ(json_member(obj, "metadata"), R"({"name":"x","labels":{"q":"say \"}\" twice"}})");
  EXPECT_EQ(json_member(obj, "n"), "-1.5e3");
  EXPECT_EQ(json_member(obj, "t"), "true");
  EXPECT_EQ(json_member(obj, "absent"), "");
  // What json_member returns parses as the member nlohmann sees.
  Json parsed = Json::parse(obj);
  EXPECT_EQ(Json::parse(json_member(obj, "spec")), parsed["spec"]);
}

TEST(JsonMember, MalformedTextYieldsNothing) {
  for (std::string_view bad : {"", "[]", "{", R"({"a")", R"({"a":)", R"({"a":"open)",
                               R"({"a":{"b":1})", R"({"a":1 "metadata":{}})", "{metadata:{}}"}) {
    EXPECT_EQ(json_member(bad, "metadata"), "") << bad;
  }
}

}  // namespace
}  // namespace k8c
