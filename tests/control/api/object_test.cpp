// Defaulting, pruning and validation against small schemas built here, so these tests do not
// depend on the kind catalogue.
#include "control/api/object.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace k8c::api {
namespace {

S meta() {
  return obj({{"name", str()},
              {"generateName", str()},
              {"namespace", str()},
              {"uid", str()},
              {"creationTimestamp", str().fmt(Format::date_time)},
              {"labels", map(str())},
              {"annotations", map(str())}});
}

S container() {
  return obj({{"name", str().req().fmt(Format::dns1123_label)},
              {"image", str().req()},
              {"imagePullPolicy",
               str().def("IfNotPresent").oneof({"Always", "IfNotPresent", "Never"})},
              {"ports", list(obj({{"containerPort", integer().req().fmt(Format::port)},
                                  {"name", str().fmt(Format::port)},
                                  {"protocol", str().def("TCP").oneof({"TCP", "UDP", "SCTP"})}}))
                            .merge("containerPort")},
              {"resources", obj({{"limits", map(quantity())}, {"requests", map(quantity())}})}})
      .named("io.k8s.api.core.v1.Container");
}

Kind test_kind() {
  Kind k;
  k.group = "example.com";
  k.version = "v1";
  k.kind = "Widget";
  k.plural = "widgets";
  k.singular = "widget";
  k.schema = obj({{"apiVersion", str()},
                  {"kind", str()},
                  {"metadata", meta()},
                  {"spec", obj({{"replicas", integer().def(1).min(0).max(100)},
                                {"selector", map(str()).immutable()},
                                {"containers", list(container()).req().max_len(3)},
                                {"strategy", obj({{"type", str().def("RollingUpdate")},
                                                  {"maxSurge", int_or_string().def("25%")}})
                                                 .def(Json::object())},
                                {"labels", map(obj({{"weight", integer().def(10)}}))},
                                {"schedule", str().fmt(Format::cron)},
                                {"ip", str().fmt(Format::ip)},
                                {"data", map(str().fmt(Format::base64))},
                                {"when", str().fmt(Format::date_time)},
                                {"host", str().fmt(Format::dns1123_subdomain).max_len(20)},
                                {"svc", str().fmt(Format::rfc1035_label)},
                                {"key", str().fmt(Format::label_key)},
                                {"value", str().fmt(Format::label_value)},
                                {"ratio", number()},
                                {"enabled", boolean()},
                                {"targetPort", int_or_string().fmt(Format::port)},
                                {"extra", any()}})},
                  {"status", obj({{"phase", str()}})}});
  return k;
}

Json widget() {
  return {{"apiVersion", "example.com/v1"},
          {"kind", "Widget"},
          {"metadata", {{"name", "w1"}, {"namespace", "default"}}},
          {"spec", {{"containers", {{{"name", "app"}, {"image", "nginx"}}}}}}};
}

const FieldError* find_err(const FieldErrors& errs, std::string_view field) {
  for (const auto& e : errs)
    if (e.field == field) return &e;
  return nullptr;
}

std::string dump(const FieldErrors& errs) {
  std::string out;
  for (const auto& e : errs) out += e.field + ": " + e.message + "\n";
  return out;
}

// ---- defaults ----

TEST(Defaults, NestedArraysAndMaps) {
  Kind k = test_kind();
  Json w = widget();
  w["spec"]["containers"][0]["ports"] = {{{"containerPort", 80}},
                                         {{"containerPort", 53}, {"protocol", "UDP"}}};
  w["spec"]["labels"] = {{"a", Json::object()}, {"b", {{"weight", 3}}}};
  apply_defaults(k, w);
  EXPECT_EQ(w["spec"]["replicas"], 1);
  EXPECT_EQ(w["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent");
  EXPECT_EQ(w["spec"]["containers"][0]["ports"][0]["protocol"], "TCP");
  EXPECT_EQ(w["spec"]["containers"][0]["ports"][1]["protocol"], "UDP");
  EXPECT_EQ(w["spec"]["labels"]["a"]["weight"], 10);
  EXPECT_EQ(w["spec"]["labels"]["b"]["weight"], 3);
  // A defaulted object is itself defaulted.
  EXPECT_EQ(w["spec"]["strategy"]["type"], "RollingUpdate");
  EXPECT_EQ(w["spec"]["strategy"]["maxSurge"], "25%");
  // Absent parents without a default stay absent.
  EXPECT_FALSE(w["spec"].contains("status"));
  EXPECT_FALSE(w.contains("status"));
}

TEST(Defaults, PresentValuesAndNullsAndKindHook) {
  Kind k = test_kind();
  k.defaults = [](Json& o) { o["spec"]["hooked"] = o["spec"]["replicas"].get<int>() * 2; };
  Json w = widget();
  w["spec"]["replicas"] = 5;
  w["spec"]["strategy"] = nullptr;
  apply_defaults(k, w);
  EXPECT_EQ(w["spec"]["replicas"], 5);
  EXPECT_EQ(w["spec"]["strategy"]["type"], "RollingUpdate");
  EXPECT_EQ(w["spec"]["hooked"], 10);  // the hook runs after schema defaults
}

TEST(Defaults, ThrowingHookDoesNotEscape) {
  Kind k = test_kind();
  k.defaults = [](Json& o) { (void)o.at("nope").get<int>(); };
  Json w = widget();
  EXPECT_NO_THROW(apply_defaults(k, w));
  EXPECT_EQ(w["spec"]["replicas"], 1);
}

TEST(Defaults, WrongTypesAreLeftAlone) {
  Kind k = test_kind();
  Json w = widget();
  w["spec"]["containers"] = "oops";
  w["spec"]["labels"] = 3;
  EXPECT_NO_THROW(apply_defaults(k, w));
  EXPECT_EQ(w["spec"]["containers"], "oops");
}

// ---- prune ----

TEST(Prune, RemovesUnknownFieldsAtEveryLevel) {
  Kind k = test_kind();
  Json w = widget();
  w["foo"] = 1;
  w["spec"]["bogus"] = true;
  w["spec"]["containers"].push_back(
      {{"name", "b"}, {"image", "x"}, {"imagePullPolicyy", "Always"}});
  w["spec"]["containers"][0]["ports"] = {{{"containerPort", 80}, {"hostIP", "1.2.3.4"}}};
  w["spec"]["labels"] = {{"a", {{"weight", 1}, {"heavy", true}}}};
  w["spec"]["extra"] = {{"anything", {{"goes", 1}}}};
  w["metadata"]["labels"] = {{"free", "keys"}};
  std::vector<std::string> unknown;
  prune(*k.schema, w, &unknown);
  std::vector<std::string> want = {"foo", "spec.bogus", "spec.containers[0].ports[0].hostIP",
                                   "spec.containers[1].imagePullPolicyy", "spec.labels[a].heavy"};
  std::sort(unknown.begin(), unknown.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(unknown, want);
  EXPECT_FALSE(w.contains("foo"));
  EXPECT_FALSE(w["spec"].contains("bogus"));
  EXPECT_FALSE(w["spec"]["containers"][1].contains("imagePullPolicyy"));
  EXPECT_EQ(w["spec"]["containers"][1]["name"], "b");
  EXPECT_FALSE(w["spec"]["containers"][0]["ports"][0].contains("hostIP"));
  EXPECT_EQ(w["spec"]["labels"]["a"], Json({{"weight", 1}}));
  // Free-form subtrees and map keys are not pruned.
  EXPECT_EQ(w["spec"]["extra"]["anything"]["goes"], 1);
  EXPECT_EQ(w["metadata"]["labels"]["free"], "keys");
}

TEST(Prune, PathPrefixAndNullSink) {
  Schema s = *obj({{"a", str()}}).ptr();
  Json v = {{"a", "x"}, {"b", 1}};
  std::vector<std::string> unknown;
  prune(s, v, &unknown, "spec.template");
  EXPECT_EQ(unknown, std::vector<std::string>{"spec.template.b"});
  Json v2 = {{"c", 1}};
  EXPECT_NO_THROW(prune(s, v2, nullptr));
  EXPECT_EQ(v2, Json::object());
}

// ---- validation ----

TEST(Validate, ValidObjectHasNoErrors) {
  Kind k = test_kind();
  Json w = widget();
  apply_defaults(k, w);
  auto errs = validate(k, w, nullptr);
  EXPECT_TRUE(errs.empty()) << dump(errs);
}

TEST(Validate, RequiredFields) {
  Kind k = test_kind();
  Json w = widget();
  w["spec"]["containers"][0].erase("image");
  w["spec"]["containers"].push_back({{"name", nullptr}, {"image", "x"}});
  auto errs = validate(k, w, nullptr);
  const FieldError* e = find_err(errs, "spec.containers[0].image");
  ASSERT_NE(e, nullptr) << dump(errs);
  EXPECT_EQ(e->kind, FieldError::Kind::required);
  EXPECT_EQ(e->message, "Required value");
  EXPECT_STREQ(cause_reason(e->kind), "FieldValueRequired");
  ASSERT_NE(find_err(errs, "spec.containers[1].name"), nullptr) << dump(errs);

  Json w2 = widget();
  w2["spec"].erase("containers");
  errs = validate(k, w2, nullptr);
  ASSERT_NE(find_err(errs, "spec.containers"), nullptr) << dump(errs);
}

TEST(Validate, TypeChecks) {
  Kind k = test_kind();
  Json w = widget();
  w["spec"]["replicas"] = 1.5;
  w["spec"]["ratio"] = "x";
  w["spec"]["enabled"] = "true";
  w["spec"]["containers"][0]["image"] = 7;
  w["spec"]["targetPort"] = true;
  w["spec"]["labels"] = {{"a", {{"weight", "heavy"}}}};
  auto errs = validate(k, w, nullptr);
  const FieldError* e = find_err(errs, "spec.replicas");
  ASSERT_NE(e, nullptr) << dump(errs);
  EXPECT_EQ(e->kind, FieldError::Kind::invalid);
  EXPECT_EQ(e->message,
            "Invalid value: \"number\": spec.replicas in body must be of type integer: \"number\"");
  EXPECT_NE(find_err(errs, "spec.ratio"), nullptr);
  EXPECT_NE(find_err(errs, "spec.enabled"), nullptr);
  EXPECT_NE(find_err(errs, "spec.containers[0].image"), nullptr);
  EXPECT_NE(find_err(errs, "spec.targetPort"), nullptr);
  EXPECT_NE(find_err(errs, "spec.labels[a].weight"), nullptr) << dump(errs);

  // Integral floats are integers; int_or_string takes either.
  Json ok = widget();
  ok["spec"]["replicas"] = 3.0;
  ok["spec"]["ratio"] = 2;
  ok["spec"]["targetPort"] = "http";
  errs = validate(k, ok, nullptr);
  EXPECT_TRUE(errs.empty()) << dump(errs);
  ok["spec"]["targetPort"] = 8080;
  EXPECT_TRUE(validate(k, ok, nullptr).empty());
}

TEST(Validate, Quantities) {
  Kind k = test_kind();
  for (const char* good : {"100m", "1Gi", "2.5", "1e3", "1E3", "+1", "-2", ".5", "5.", "512Ki",
                           "3E", "1.5G", "10n", "7u", "1e-3", "2k"}) {
    Json w = widget();
    w["spec"]["containers"][0]["resources"] = {{"limits", {{"cpu", good}}}};
    auto errs = validate(k, w, nullptr);
    EXPECT_TRUE(errs.empty()) << good << ": " << dump(errs);
  }
  Json num = widget();
  num["spec"]["containers"][0]["resources"] = {{"requests", {{"cpu", 0.5}, {"memory", 1024}}}};
  EXPECT_TRUE(validate(k, num, nullptr).empty());
  for (const char* bad : {"", "abc", "1Gb", "1.2.3", "m", "1e", "1 Gi", "--1", "1KiB"}) {
    Json w = widget();
    w["spec"]["containers"][0]["resources"] = {{"limits", {{"memory", bad}}}};
    auto errs = validate(k, w, nullptr);
    const FieldError* e = find_err(errs, "spec.containers[0].resources.limits[memory]");
    ASSERT_NE(e, nullptr) << bad << ": " << dump(errs);
    EXPECT_EQ(e->message, "Invalid value: \"" + std::string(bad) +
                              "\": quantities must match the regular expression "
                              "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
  }
}

TEST(Validate, EnumListsSupportedValues) {
  Kind k = test_kind();
  Json w = widget();
  w["spec"]["containers"][0]["imagePullPolicy"] = "Sometimes";
  auto errs = validate(k, w, nullptr);
  const FieldError* e = find_err(errs, "spec.containers[0].imagePullPolicy");
  ASSERT_NE(e, nullptr) << dump(errs);
  EXPECT_EQ(e->kind, FieldError::Kind::not_supported);
  EXPECT_EQ(e->message,
            "Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", "
            "\"Never\"");
  EXPECT_EQ(e->value, "Sometimes");
  EXPECT_STREQ(cause_reason(e->kind), "FieldValueNotSupported");
}

TEST(Validate, BoundsAndLengths) {
  Kind k = test_kind();
  Json w = widget();
  w["spec"]["replicas"] = -1;
  w["spec"]["host"] = "a-very-long-host-name.example.com";
  w["spec"]["containers"] = Json::array();
  for (int i = 0; i < 4; ++i)
    w["spec"]["containers"].push_back({{"name", "c" + std::to_string(i)}, {"image", "x"}});
  auto errs = validate(k, w, nullptr);
  const FieldError* e = find_err(errs, "spec.replicas");
  ASSERT_NE(e, nullptr) << dump(errs);
  EXPECT_EQ(e->message, "Invalid value: -1: must be greater than or equal to 0");
  e = find_err(errs, "spec.host");
  ASSERT_NE(e, nullptr) << dump(errs);
  EXPECT_EQ(e->kind, FieldError::Kind::too_long);
  EXPECT_EQ(e->message, "Too long: may not be more than 20 bytes");
  e = find_err(errs, "spec.containers");
  ASSERT_NE(e, nullptr) << dump(errs);
  EXPECT_EQ(e->message, "Too many: 4: must have at most 3 items");

  Json hi = widget();
  hi["spec"]["replicas"] = 101;
  errs = validate(k, hi, nullptr);
  ASSERT_NE(find_err(errs, "spec.replicas"), nullptr);
  EXPECT_EQ(find_err(errs, "spec.replicas")->message,
            "Invalid value: 101: must be less than or equal to 100");
}

TEST(Validate, NameFormats) {
  Kind k = test_kind();
  Json w = widget();
  w["spec"]["containers"][0]["name"] = "My_App";
  w["spec"]["svc"] = "1abc";
  w["spec"]["key"] = "example.com/bad key";
  w["spec"]["value"] = "-bad";
  auto errs = validate(k, w, nullptr);
  const FieldError* e = find_err(errs, "spec.containers[0].name");
  ASSERT_NE(e, nullptr) << dump(errs);
  EXPECT_EQ(e->message,
            "Invalid value: \"My_App\": a lowercase RFC 1123 label must consist of lower case "
            "alphanumeric characters or '-', and must start and end with an alphanumeric "
            "character (e.g. 'my-name',  or '123-abc', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')");
  e = find_err(errs, "spec.svc");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->message,
            "Invalid value: \"1abc\": a DNS-1035 label must consist of lower case alphanumeric "
            "characters or '-', start with an alphabetic character, and end with an alphanumeric "
            "character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
            "'[a-z]([-a-z0-9]*[a-z0-9])?')");
  e = find_err(errs, "spec.key");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->message,
            "Invalid value: \"example.com/bad key\": name part must consist of alphanumeric "
            "characters, '-', '_' or '.', and must start and end with an alphanumeric character "
            "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')");
  e = find_err(errs, "spec.value");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->message,
            "Invalid value: \"-bad\": a valid label must be an empty string or consist of "
            "alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
            "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')");

  Json dots = widget();
  dots["spec"]["containers"][0]["name"] = "a.b";
  errs = validate(k, dots, nullptr);
  ASSERT_NE(find_err(errs, "spec.containers[0].name"), nullptr);
  EXPECT_EQ(find_err(errs, "spec.containers[0].name")->message,
            "Invalid value: \"a.b\": must not contain dots");
}

TEST(Validate, NamePredicates) {
  EXPECT_TRUE(is_dns1123_label("my-name"));
  EXPECT_TRUE(is_dns1123_label("123-abc"));
  EXPECT_FALSE(is_dns1123_label("-a"));
  EXPECT_FALSE(is_dns1123_label("a-"));
  EXPECT_FALSE(is_dns1123_label("A"));
  EXPECT_FALSE(is_dns1123_label(""));
  EXPECT_FALSE(is_dns1123_label(std::string(64, 'a')));
  EXPECT_TRUE(is_dns1123_label(std::string(63, 'a')));
  EXPECT_TRUE(is_dns1123_subdomain("example.com"));
  EXPECT_FALSE(is_dns1123_subdomain("example..com"));
  EXPECT_FALSE(is_dns1123_subdomain(".example"));
  EXPECT_FALSE(is_dns1123_subdomain(std::string(254, 'a')));
  EXPECT_TRUE(is_rfc1035_label("abc-123"));
  EXPECT_FALSE(is_rfc1035_label("1abc"));
  EXPECT_TRUE(is_qualified_name("app"));
  EXPECT_TRUE(is_qualified_name("app.kubernetes.io/name"));
  EXPECT_TRUE(is_qualified_name("My_Name.x"));
  EXPECT_FALSE(is_qualified_name("a/b/c"));
  EXPECT_FALSE(is_qualified_name("/name"));
  EXPECT_FALSE(is_qualified_name("Example.com/name"));
  EXPECT_FALSE(is_qualified_name(std::string(64, 'a')));
  EXPECT_TRUE(is_label_value(""));
  EXPECT_TRUE(is_label_value("v1.2_3-x"));
  EXPECT_FALSE(is_label_value("a b"));
  EXPECT_FALSE(is_label_value(std::string(64, 'a')));
}

TEST(Validate, DateTimeIpBase64Port) {
  Kind k = test_kind();
  Json ok = widget();
  ok["spec"]["when"] = "2024-05-01T10:20:30Z";
  ok["spec"]["ip"] = "10.0.0.1";
  ok["spec"]["data"] = {{"a", "aGVsbG8="}, {"b", ""}, {"c", "YWJj"}};
  ok["spec"]["containers"][0]["ports"] = {{{"containerPort", 65535}, {"name", "http-alt"}}};
  auto errs = validate(k, ok, nullptr);
  EXPECT_TRUE(errs.empty()) << dump(errs);
  ok["spec"]["when"] = "2024-05-01T10:20:30.123+02:00";
  ok["spec"]["ip"] = "2001:db8::1";
  EXPECT_TRUE(validate(k, ok, nullptr).empty());

  Json bad = widget();
  bad["spec"]["when"] = "2024-13-01 10:20";
  bad["spec"]["ip"] = "10.0.0.256";
  bad["spec"]["data"] = {{"a", "aGVsbG8"}, {"b", "a$=="}};
  bad["spec"]["containers"][0]["ports"] = {{{"containerPort", 0}, {"name", "HTTP--x"}},
                                           {{"containerPort", 70000}}};
  errs = validate(k, bad, nullptr);
  const FieldError* e = find_err(errs, "spec.when");
  ASSERT_NE(e, nullptr) << dump(errs);
  EXPECT_EQ(e->message,
            "Invalid value: \"2024-13-01 10:20\": spec.when in body must be of type date-time: "
            "\"2024-13-01 10:20\"");
  e = find_err(errs, "spec.ip");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->message,
            "Invalid value: \"10.0.0.256\": must be a valid IP address, (e.g. 10.9.8.7 or "
            "2001:db8::ffff)");
  e = find_err(errs, "spec.data[a]");
  ASSERT_NE(e, nullptr) << dump(errs);
  EXPECT_EQ(e->message, "Invalid value: \"aGVsbG8\": illegal base64 data at input byte 4");
  e = find_err(errs, "spec.data[b]");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->message, "Invalid value: \"a$==\": illegal base64 data at input byte 1");
  e = find_err(errs, "spec.containers[0].ports[0].containerPort");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->message, "Invalid value: 0: must be between 1 and 65535, inclusive");
  EXPECT_NE(find_err(errs, "spec.containers[0].ports[1].containerPort"), nullptr) << dump(errs);
  e = find_err(errs, "spec.containers[0].ports[0].name");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->message,
            "Invalid value: \"HTTP--x\": must contain only alpha-numeric characters (a-z, 0-9), "
            "and hyphens (-)");
}

TEST(Validate, Cron) {
  Kind k = test_kind();
  for (const char* good : {"*/5 * * * *", "0 0 * * *", "@hourly", "@daily", "@weekly", "@monthly",
                           "@yearly", "@annually", "@midnight", "0 9-17/2 * * mon-fri",
                           "15,45 * 1,15 JAN,jul ?", "5/10 * * * *", "0 0 L * *"}) {
    Json w = widget();
    w["spec"]["schedule"] = good;
    auto errs = validate(k, w, nullptr);
    if (std::string_view(good) == "0 0 L * *") {
      ASSERT_EQ(errs.size(), 1u) << good;
      EXPECT_EQ(errs[0].message,
                "Invalid value: \"0 0 L * *\": failed to parse int from L: strconv.Atoi: "
                "parsing \"L\": invalid syntax");
      continue;
    }
    EXPECT_TRUE(errs.empty()) << good << ": " << dump(errs);
  }
  struct Case {
    const char* spec;
    const char* message;
  } cases[] = {
      {"* * * *", "expected exactly 5 fields, found 4: [* * * *]"},
      {"60 * * * *", "end of range (60) above maximum (59): 60"},
      {"* * 0 * *", "beginning of range (0) below minimum (1): 0"},
      {"5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"},
      {"*/0 * * * *", "step of range should be a positive number: */0"},
      {"1-2-3 * * * *", "too many hyphens: 1-2-3"},
      {"*/2/3 * * * *", "too many slashes: */2/3"},
      {"* * * foo *",
       "failed to parse int from foo: strconv.Atoi: parsing \"foo\": invalid syntax"},
      {"@often", "unrecognized descriptor: @often"},
      {"", "empty spec string"},
  };
  for (const auto& c : cases) {
    Json w = widget();
    w["spec"]["schedule"] = c.spec;
    auto errs = validate(k, w, nullptr);
    const FieldError* e = find_err(errs, "spec.schedule");
    ASSERT_NE(e, nullptr) << c.spec;
    EXPECT_EQ(e->message, "Invalid value: " + Json(c.spec).dump() + ": " + c.message);
  }
}

TEST(Validate, MetadataName) {
  Kind k = test_kind();
  Json w = widget();
  w["metadata"].erase("name");
  auto errs = validate(k, w, nullptr);
  const FieldError* e = find_err(errs, "metadata.name");
  ASSERT_NE(e, nullptr) << dump(errs);
  EXPECT_EQ(e->message, "Required value: name or generateName is required");

  w["metadata"]["generateName"] = "web-";
  EXPECT_TRUE(validate(k, w, nullptr).empty()) << dump(validate(k, w, nullptr));
  w["metadata"]["generateName"] = "Web-";
  EXPECT_NE(find_err(validate(k, w, nullptr), "metadata.generateName"), nullptr);

  Json bad = widget();
  bad["metadata"]["name"] = "Bad_Name";
  errs = validate(k, bad, nullptr);
  e = find_err(errs, "metadata.name");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->message,
            "Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower "
            "case alphanumeric characters, '-' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
  // Dots are fine in subdomain names.
  bad["metadata"]["name"] = "a.b-c";
  EXPECT_TRUE(validate(k, bad, nullptr).empty());
}

TEST(Validate, NamespaceByScope) {
  Kind k = test_kind();
  Json w = widget();
  w["metadata"].erase("namespace");
  auto errs = validate(k, w, nullptr);
  const FieldError* e = find_err(errs, "metadata.namespace");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->kind, FieldError::Kind::required);
  EXPECT_EQ(e->message, "Required value");

  k.namespaced = false;
  EXPECT_TRUE(validate(k, w, nullptr).empty());
  w["metadata"]["namespace"] = "default";
  errs = validate(k, w, nullptr);
  e = find_err(errs, "metadata.namespace");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->kind, FieldError::Kind::forbidden);
  EXPECT_EQ(e->message, "Forbidden: not allowed on this type");
}

TEST(Validate, LabelsAndAnnotations) {
  Kind k = test_kind();
  Json w = widget();
  w["metadata"]["labels"] = {
      {"app.kubernetes.io/name", "web"}, {"bad key", "ok"}, {"tier", "front end"}};
  w["metadata"]["annotations"] = {{"Example.com/Note", "x"}, {"a/b/c", "y"}};
  auto errs = validate(k, w, nullptr);
  int label_errs = 0, ann_errs = 0;
  for (const auto& e : errs) {
    if (e.field == "metadata.labels") ++label_errs;
    if (e.field == "metadata.annotations") ++ann_errs;
  }
  EXPECT_EQ(label_errs, 2) << dump(errs);
  // Annotation keys are checked lower-cased, so only "a/b/c" is wrong.
  EXPECT_EQ(ann_errs, 1) << dump(errs);
  const FieldError* e = find_err(errs, "metadata.labels");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->value, "bad key");
  EXPECT_TRUE(e->message.starts_with("Invalid value: \"bad key\": name part must consist of"));

  Json big = widget();
  big["metadata"]["annotations"] = {{"a", std::string(256 * 1024, 'x')}};
  errs = validate(k, big, nullptr);
  e = find_err(errs, "metadata.annotations");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->kind, FieldError::Kind::too_long);
  EXPECT_EQ(e->message, "Too long: may not be more than 262144 bytes");
  big["metadata"]["annotations"] = {{"a", std::string(256 * 1024 - 1, 'x')}};
  EXPECT_TRUE(validate(k, big, nullptr).empty());
}

TEST(Validate, ImmutableOnUpdate) {
  Kind k = test_kind();
  Json old = widget();
  old["metadata"]["uid"] = "u1";
  old["spec"]["selector"] = {{"app", "web"}};
  Json now = old;
  EXPECT_TRUE(validate(k, now, &old).empty());
  now["spec"]["replicas"] = 4;  // mutable
  EXPECT_TRUE(validate(k, now, &old).empty());
  now["spec"]["selector"]["app"] = "api";
  auto errs = validate(k, now, &old);
  const FieldError* e = find_err(errs, "spec.selector");
  ASSERT_NE(e, nullptr) << dump(errs);
  EXPECT_EQ(e->message, "Invalid value: {\"app\":\"api\"}: field is immutable");
  // Removing an immutable field is a change too.
  now["spec"].erase("selector");
  EXPECT_NE(find_err(validate(k, now, &old), "spec.selector"), nullptr);
  // But immutability is not checked on create.
  EXPECT_EQ(find_err(validate(k, now, nullptr), "spec.selector"), nullptr);

  Json renamed = old;
  renamed["metadata"]["name"] = "w2";
  renamed["metadata"]["uid"] = "u2";
  errs = validate(k, renamed, &old);
  EXPECT_NE(find_err(errs, "metadata.name"), nullptr);
  EXPECT_NE(find_err(errs, "metadata.uid"), nullptr);
  Json no_uid = old;
  no_uid["metadata"].erase("uid");
  EXPECT_TRUE(validate(k, no_uid, &old).empty());
}

TEST(Validate, KindHookRunsWithOldObject) {
  Kind k = test_kind();
  const Json* seen_old = nullptr;
  k.validate = [&](const Json& o, const Json* old, FieldErrors& errs) {
    seen_old = old;
    if (o["spec"].value("replicas", 0) > 10)
      errs.push_back(
          {FieldError::Kind::forbidden, "spec.replicas", "Forbidden: too many", nullptr});
  };
  Json w = widget();
  w["spec"]["replicas"] = 11;
  auto errs = validate(k, w, nullptr);
  ASSERT_EQ(errs.size(), 1u) << dump(errs);
  EXPECT_EQ(errs[0].message, "Forbidden: too many");
  EXPECT_EQ(seen_old, nullptr);
  Json old = widget();
  validate(k, w, &old);
  EXPECT_EQ(seen_old, &old);

  k.validate = [](const Json& o, const Json*, FieldErrors&) { (void)o.at("missing"); };
  EXPECT_NO_THROW(errs = validate(k, widget(), nullptr));
  EXPECT_EQ(errs.size(), 1u);
}

TEST(Validate, NonObjectBodies) {
  Kind k = test_kind();
  EXPECT_FALSE(validate(k, Json::array(), nullptr).empty());
  Json w = widget();
  w["metadata"] = "x";
  auto errs = validate(k, w, nullptr);
  EXPECT_NE(find_err(errs, "metadata"), nullptr) << dump(errs);
  w["metadata"] = Json::object();
  w["spec"] = 5;
  errs = validate(k, w, nullptr);
  EXPECT_NE(find_err(errs, "spec"), nullptr);
  EXPECT_NE(find_err(errs, "metadata.name"), nullptr);
}

}  // namespace
}  // namespace k8c::api
