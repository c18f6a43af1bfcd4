// Table responses and ages, with a kind built here rather than taken from the catalogue.
#include "control/api/table.h"

#include <gtest/gtest.h>

#include <ctime>
#include <stdexcept>

namespace k8c::api {
namespace {

Kind gadget_kind() {
  Kind k;
  k.group = "example.com";
  k.version = "v1";
  k.kind = "Gadget";
  k.plural = "gadgets";
  k.singular = "gadget";
  k.schema = obj({{"apiVersion", str()}, {"kind", str()}, {"metadata", any()}, {"spec", any()}});
  k.columns.push_back({"Ready", "string", "", "ready count", 0, [](const Json& o) -> Json {
                         const Json* ready = find_path(o, {"status", "ready"});
                         const Json* want = find_path(o, {"spec", "replicas"});
                         return (ready ? ready->dump() : "0") + "/" + (want ? want->dump() : "0");
                       }});
  k.columns.push_back({"Restarts", "integer", "", "restarts", 0, [](const Json& o) -> Json {
                         const Json* r = find_path(o, {"status", "restarts"});
                         return r ? *r : Json(0);
                       }});
  k.columns.push_back({"Node", "string", "", "node name", 1, [](const Json& o) -> Json {
                         return o.at("spec").at("nodeName");  // throws when absent
                       }});
  k.columns.push_back({"Age", "date", "", "age", 0, nullptr});
  return k;
}

std::string timestamp(int64_t unix) {
  std::time_t t = static_cast<std::time_t>(unix);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Json gadget(const std::string& name, int64_t created) {
  return {{"apiVersion", "example.com/v1"},
          {"kind", "Gadget"},
          {"metadata",
           {{"name", name},
            {"namespace", "default"},
            {"labels", {{"app", "g"}}},
            {"creationTimestamp", timestamp(created)}}},
          {"spec", {{"replicas", 3}, {"nodeName", "n1"}}},
          {"status", {{"ready", 2}, {"restarts", 4}}}};
}

TEST(Table, ColumnsStartWithName) {
  Kind k = gadget_kind();
  Json t = to_table(k, {}, "", {{"resourceVersion", "42"}, {"continue", "abc"}, {"extra", 1}});
  EXPECT_EQ(t["kind"], "Table");
  EXPECT_EQ(t["apiVersion"], "meta.k8s.io/v1");
  EXPECT_EQ(t["metadata"], Json({{"resourceVersion", "42"}, {"continue", "abc"}}));
  EXPECT_EQ(t["rows"], Json::array());
  const Json& cols = t["columnDefinitions"];
  ASSERT_EQ(cols.size(), 5u);
  EXPECT_EQ(cols[0]["name"], "Name");
  EXPECT_EQ(cols[0]["type"], "string");
  EXPECT_EQ(cols[0]["format"], "name");
  EXPECT_EQ(cols[0]["priority"], 0);
  EXPECT_TRUE(cols[0]["description"].get<std::string>().starts_with("Name must be unique"));
  EXPECT_EQ(cols[1], Json({{"name", "Ready"},
                           {"type", "string"},
                           {"format", ""},
                           {"description", "ready count"},
                           {"priority", 0}}));
  EXPECT_EQ(cols[3]["name"], "Node");
  EXPECT_EQ(cols[3]["priority"], 1);
  EXPECT_EQ(cols[4]["name"], "Age");
  EXPECT_EQ(cols[4]["type"], "date");
}

TEST(Table, CellsAndPartialObjectMetadata) {
  Kind k = gadget_kind();
  int64_t now = std::time(nullptr);
  Json a = gadget("a", now - 330);
  Json b = gadget("b", now - 3 * 86400);
  b["spec"].erase("nodeName");
  Json t = to_table(k, {&a, &b}, "Metadata", {{"resourceVersion", "7"}});
  ASSERT_EQ(t["rows"].size(), 2u);
  const Json& r0 = t["rows"][0];
  ASSERT_EQ(r0["cells"].size(), 5u);
  EXPECT_EQ(r0["cells"][0], "a");
  EXPECT_EQ(r0["cells"][1], "2/3");
  EXPECT_EQ(r0["cells"][2], 4);
  EXPECT_EQ(r0["cells"][3], "n1");
  // The Age column has no cell function: the engine derives it from creationTimestamp.
  std::string age = r0["cells"][4];
  EXPECT_TRUE(age == "5m30s" || age == "5m31s") << age;
  EXPECT_EQ(r0["object"]["kind"], "PartialObjectMetadata");
  EXPECT_EQ(r0["object"]["apiVersion"], "meta.k8s.io/v1");
  EXPECT_EQ(r0["object"]["metadata"], a["metadata"]);
  EXPECT_FALSE(r0["object"].contains("spec"));
  // A cell function that throws yields an empty cell, not a failed request.
  EXPECT_TRUE(t["rows"][1]["cells"][3].is_null());
  std::string age_b = t["rows"][1]["cells"][4];
  EXPECT_TRUE(age_b == "3d" || age_b == "2d23h") << age_b;
}

TEST(Table, IncludeObjectModes) {
  Kind k = gadget_kind();
  Json a = gadget("a", std::time(nullptr));
  Json def = to_table(k, {&a}, "", nullptr);
  EXPECT_EQ(def["rows"][0]["object"]["kind"], "PartialObjectMetadata");
  EXPECT_EQ(def["metadata"], Json::object());
  Json full = to_table(k, {&a}, "Object", nullptr);
  EXPECT_EQ(full["rows"][0]["object"], a);
  Json none = to_table(k, {&a}, "None", nullptr);
  EXPECT_FALSE(none["rows"][0].contains("object"));
  EXPECT_EQ(none["rows"][0]["cells"][0], "a");
}

TEST(Table, MissingMetadata) {
  Kind k = gadget_kind();
  Json odd = {{"kind", "Gadget"}};
  Json t = to_table(k, {&odd, nullptr}, "Metadata", nullptr);
  ASSERT_EQ(t["rows"].size(), 1u);
  EXPECT_EQ(t["rows"][0]["cells"][0], "");
  EXPECT_EQ(t["rows"][0]["cells"][4], "<unknown>");
  EXPECT_EQ(t["rows"][0]["object"]["metadata"], Json::object());
}

TEST(HumanAge, FollowsHumanDuration) {
  const int64_t t0 = 1700000000;
  const std::string ts = timestamp(t0);
  auto age = [&](int64_t d) { return human_age(ts, t0 + d); };
  EXPECT_EQ(age(-5), "<invalid>");
  EXPECT_EQ(age(-1), "0s");
  EXPECT_EQ(age(0), "0s");
  EXPECT_EQ(age(59), "59s");
  EXPECT_EQ(age(119), "119s");
  EXPECT_EQ(age(120), "2m");
  EXPECT_EQ(age(330), "5m30s");
  EXPECT_EQ(age(599), "9m59s");
  EXPECT_EQ(age(600), "10m");
  EXPECT_EQ(age(179 * 60 + 59), "179m");
  EXPECT_EQ(age(3 * 3600), "3h");
  EXPECT_EQ(age(3 * 3600 + 25 * 60), "3h25m");
  EXPECT_EQ(age(8 * 3600 + 59 * 60), "8h");
  EXPECT_EQ(age(47 * 3600), "47h");
  EXPECT_EQ(age(48 * 3600), "2d");
  EXPECT_EQ(age(2 * 86400 + 5 * 3600), "2d5h");
  EXPECT_EQ(age(8 * 86400 + 5 * 3600), "8d");
  EXPECT_EQ(age(729 * 86400), "729d");
  EXPECT_EQ(age(730 * 86400), "2y");
  EXPECT_EQ(age(800 * 86400), "2y70d");
  EXPECT_EQ(age(9 * 365 * 86400), "9y");
}

TEST(HumanAge, TimestampForms) {
  // 2023-11-14T22:13:20Z is 1700000000.
  EXPECT_EQ(human_age("2023-11-14T22:13:20Z", 1700000000 + 90), "90s");
  EXPECT_EQ(human_age("2023-11-14T22:13:20.999Z", 1700000000 + 90), "90s");
  EXPECT_EQ(human_age("2023-11-15T00:13:20+02:00", 1700000000 + 90), "90s");
  EXPECT_EQ(human_age("2023-11-14T20:13:20-02:00", 1700000000 + 90), "90s");
  EXPECT_EQ(human_age("", 1700000000), "<unknown>");
  EXPECT_EQ(human_age("yesterday", 1700000000), "<unknown>");
  EXPECT_EQ(human_age("2023-11-14T22:13:20", 1700000000), "<unknown>");
}

}  // namespace
}  // namespace k8c::api
