// The OpenAPI documents for every kind in the catalogue, checked the way kubectl reads them.
#include "control/api/table.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <functional>
#include <set>

namespace k8c::api {
namespace {

std::string gv_path(const Kind& k) {
  return k.group.empty() ? "api/" + k.version : "apis/" + k.group + "/" + k.version;
}

// Every "$ref" anywhere in `doc`.
void collect_refs(const Json& doc, std::set<std::string>& out) {
  if (doc.is_object()) {
    for (auto it = doc.begin(); it != doc.end(); ++it) {
      if (it.key() == "$ref" && it.value().is_string()) out.insert(it.value().get<std::string>());
      collect_refs(it.value(), out);
    }
  } else if (doc.is_array()) {
    for (const auto& v : doc) collect_refs(v, out);
  }
}

bool has_gvk(const Json& op, const Kind& k) {
  const Json* g = find_path(op, {"x-kubernetes-group-version-kind"});
  return g && g->is_object() && g->value("group", "-") == k.group &&
         g->value("version", "-") == k.version && g->value("kind", "-") == k.kind;
}

bool has_query_param(const Json& op, std::string_view name) {
  const Json* params = find_path(op, {"parameters"});
  if (!params || !params->is_array()) return false;
  for (const auto& p : *params)
    if (p.value("name", "") == name && p.value("in", "") == "query") return true;
  return false;
}

TEST(OpenAPI, CatalogueIsNotEmpty) {
  ASSERT_FALSE(all_kinds().empty());
}

// kubectl's queryParamVerifierV3: in the group-version's v3 document, the PATCH operation whose
// x-kubernetes-group-version-kind is the object's GVK must list fieldValidation (in: query).
// Go ranges over the paths map in random order and the first match decides, so every such
// operation (the object, /status, ...) must carry it.
TEST(OpenAPI, EveryKindSupportsServerSideFieldValidation) {
  for (const Kind& k : all_kinds()) {
    SCOPED_TRACE(k.api_version() + " " + k.kind);
    Json doc = openapi_v3(k.group, k.version);
    ASSERT_TRUE(doc.is_object());
    ASSERT_TRUE(doc["paths"].is_object());
    int patches = 0;
    for (auto it = doc["paths"].begin(); it != doc["paths"].end(); ++it) {
      const Json* patch = find_path(it.value(), {"patch"});
      if (!patch || !has_gvk(*patch, k)) continue;
      ++patches;
      EXPECT_TRUE(has_query_param(*patch, "fieldValidation")) << it.key();
      EXPECT_TRUE(has_query_param(*patch, "dryRun")) << it.key();
      EXPECT_TRUE(has_query_param(*patch, "fieldManager")) << it.key();
    }
    EXPECT_GE(patches, 1);
  }
}

TEST(OpenAPI, ResourcePathsAndOperations) {
  for (const Kind& k : all_kinds()) {
    SCOPED_TRACE(k.api_version() + " " + k.kind);
    Json doc = openapi_v3(k.group, k.version);
    std::string base =
        "/" + gv_path(k) + (k.namespaced ? "/namespaces/{namespace}/" : "/") + k.plural;
    ASSERT_TRUE(doc["paths"].contains(base));
    ASSERT_TRUE(doc["paths"].contains(base + "/{name}"));
    const Json& coll = doc["paths"][base];
    const Json& item = doc["paths"][base + "/{name}"];
    EXPECT_EQ(coll["get"]["x-kubernetes-action"], "list");
    EXPECT_EQ(coll["post"]["x-kubernetes-action"], "post");
    EXPECT_EQ(coll["delete"]["x-kubernetes-action"], "deletecollection");
    EXPECT_EQ(item["get"]["x-kubernetes-action"], "get");
    EXPECT_EQ(item["put"]["x-kubernetes-action"], "put");
    EXPECT_EQ(item["patch"]["x-kubernetes-action"], "patch");
    EXPECT_EQ(item["delete"]["x-kubernetes-action"], "delete");
    for (const char* m : {"get", "post", "delete"}) EXPECT_TRUE(has_gvk(coll[m], k)) << m;
    for (const char* m : {"get", "put", "patch", "delete"}) EXPECT_TRUE(has_gvk(item[m], k)) << m;
    for (const Json* op : {&coll["post"], &item["put"], &item["patch"]})
      EXPECT_TRUE(has_query_param(*op, "fieldValidation"));
    EXPECT_TRUE(has_query_param(coll["get"], "labelSelector"));
    EXPECT_TRUE(has_query_param(coll["get"], "watch"));
    // Path-level parameters name the path's variables.
    std::set<std::string> names;
    for (const auto& p : item["parameters"]) names.insert(p["name"].get<std::string>());
    EXPECT_TRUE(names.contains("name"));
    EXPECT_EQ(names.contains("namespace"), k.namespaced);
    if (k.namespaced) {
      EXPECT_TRUE(doc["paths"].contains("/" + gv_path(k) + "/" + k.plural));
    }
    EXPECT_EQ(doc["paths"].contains(base + "/{name}/status"), k.has_status);
    if (!k.scale_replicas_path.empty()) {
      const Json& scale = doc["paths"][base + "/{name}/scale"]["patch"];
      EXPECT_EQ(scale["x-kubernetes-group-version-kind"],
                Json({{"group", "autoscaling"}, {"kind", "Scale"}, {"version", "v1"}}));
      EXPECT_TRUE(has_query_param(scale, "fieldValidation"));
    }
    // The patch body accepts every patch type kubectl sends.
    const Json& content = item["patch"]["requestBody"]["content"];
    for (const char* t : {"application/json-patch+json", "application/merge-patch+json",
                          "application/strategic-merge-patch+json", "application/apply-patch+yaml"})
      EXPECT_TRUE(content.contains(t)) << t;
  }
}

TEST(OpenAPI, EveryOperationNamesItsActionAndKind) {
  std::set<std::string> gvs;
  for (const Kind& k : all_kinds()) gvs.insert(k.group + "/" + k.version);
  std::set<std::string> actions = {"get", "list",  "watch",  "watchlist",       "post",
                                   "put", "patch", "delete", "deletecollection"};
  for (const auto& gv : gvs) {
    auto slash = gv.find('/');
    Json doc = openapi_v3(gv.substr(0, slash), gv.substr(slash + 1));
    for (auto p = doc["paths"].begin(); p != doc["paths"].end(); ++p)
      for (auto op = p.value().begin(); op != p.value().end(); ++op) {
        if (op.key() == "parameters") continue;
        SCOPED_TRACE(p.key() + " " + op.key());
        EXPECT_TRUE(actions.contains(op.value().value("x-kubernetes-action", "")));
        EXPECT_TRUE(op.value()["x-kubernetes-group-version-kind"].is_object());
        EXPECT_FALSE(op.value().value("operationId", "").empty());
        EXPECT_TRUE(op.value()["responses"].contains("200"));
      }
  }
}

TEST(OpenAPI, V3SchemasResolveAndCarryGVK) {
  for (const Kind& k : all_kinds()) {
    SCOPED_TRACE(k.api_version() + " " + k.kind);
    Json doc = openapi_v3(k.group, k.version);
    EXPECT_EQ(doc["openapi"], "3.0.0");
    const Json& schemas = doc["components"]["schemas"];
    std::set<std::string> refs;
    collect_refs(doc, refs);
    for (const auto& r : refs) {
      ASSERT_TRUE(r.starts_with("#/components/schemas/")) << r;
      EXPECT_TRUE(schemas.contains(r.substr(21))) << r;
    }
    // kubectl explain finds the kind's schema by its GVK extension.
    int found = 0;
    for (auto it = schemas.begin(); it != schemas.end(); ++it) {
      const Json* g = find_path(it.value(), {"x-kubernetes-group-version-kind"});
      if (!g || !g->is_array()) continue;
      for (const auto& e : *g)
        if (e.value("group", "-") == k.group && e.value("version", "") == k.version &&
            e.value("kind", "") == k.kind) {
          ++found;
          EXPECT_EQ(it.value()["type"], "object");
          EXPECT_TRUE(it.value()["properties"].contains("metadata")) << it.key();
          EXPECT_TRUE(it.value()["properties"].contains("apiVersion")) << it.key();
        }
    }
    EXPECT_EQ(found, 1);
  }
}

TEST(OpenAPI, V2DocumentHasEveryKind) {
  Json v2 = openapi_v2();
  EXPECT_EQ(v2["swagger"], "2.0");
  ASSERT_TRUE(v2["definitions"].is_object());
  std::set<std::string> refs;
  collect_refs(v2, refs);
  for (const auto& r : refs) {
    ASSERT_TRUE(r.starts_with("#/definitions/")) << r;
    EXPECT_TRUE(v2["definitions"].contains(r.substr(14))) << r;
  }
  for (const Kind& k : all_kinds()) {
    SCOPED_TRACE(k.api_version() + " " + k.kind);
    std::string item =
        "/" + gv_path(k) + (k.namespaced ? "/namespaces/{namespace}/" : "/") + k.plural + "/{name}";
    ASSERT_TRUE(v2["paths"].contains(item));
    const Json& patch = v2["paths"][item]["patch"];
    EXPECT_TRUE(has_gvk(patch, k));
    EXPECT_TRUE(has_query_param(patch, "fieldValidation"));
    EXPECT_TRUE(patch["consumes"].is_array());
    // The body parameter references the Patch definition; the 200 response the kind.
    bool body = false;
    for (const auto& p : patch["parameters"])
      if (p["in"] == "body") body = p["schema"].contains("$ref");
    EXPECT_TRUE(body);
    std::string def = patch["responses"]["200"]["schema"]["$ref"].get<std::string>().substr(14);
    const Json& gvk = v2["definitions"][def]["x-kubernetes-group-version-kind"];
    ASSERT_TRUE(gvk.is_array());
    EXPECT_EQ(gvk[0], Json({{"group", k.group}, {"kind", k.kind}, {"version", k.version}}));
    EXPECT_TRUE(v2["definitions"].contains(def + "List"));
  }
}

TEST(OpenAPI, StrategicMergeExtensionsArePublished) {
  // Each schema field with a patch strategy shows up with its extensions, which kubectl apply
  // reads to build strategic merge patches.
  Json v2 = openapi_v2();
  int with_key = 0;
  std::function<void(const Json&)> walk = [&](const Json& j) {
    if (j.is_object()) {
      if (j.contains("x-kubernetes-patch-merge-key")) {
        ++with_key;
        EXPECT_EQ(j["x-kubernetes-patch-strategy"].get<std::string>().find("merge"), 0u);
        EXPECT_EQ(j["type"], "array");
        EXPECT_TRUE(j.contains("x-kubernetes-list-type"));
      }
      for (const auto& v : j) walk(v);
    } else if (j.is_array()) {
      for (const auto& v : j) walk(v);
    }
  };
  walk(v2["definitions"]);
  EXPECT_GT(with_key, 0);
}

TEST(OpenAPI, V3IndexPointsAtHashedDocuments) {
  Json index = openapi_v3_index();
  ASSERT_TRUE(index["paths"].is_object());
  std::set<std::string> want;
  for (const Kind& k : all_kinds()) want.insert(gv_path(k));
  std::set<std::string> got;
  for (auto it = index["paths"].begin(); it != index["paths"].end(); ++it) got.insert(it.key());
  EXPECT_EQ(got, want);
  EXPECT_TRUE(got.contains("api/v1"));
  for (const auto& gv : want) {
    std::string url = index["paths"][gv]["serverRelativeURL"];
    std::string prefix = "/openapi/v3/" + gv + "?hash=";
    ASSERT_TRUE(url.starts_with(prefix)) << url;
    std::string hash = url.substr(prefix.size());
    // The hash is SHA-512 of the bytes served, so clients can cache by URL.
    auto slash = gv.rfind('/');
    std::string group = gv.starts_with("apis/") ? gv.substr(5, slash - 5) : "";
    const std::string* bytes = openapi_v3_json(group, gv.substr(slash + 1));
    ASSERT_NE(bytes, nullptr) << gv;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    ASSERT_EQ(EVP_Digest(bytes->data(), bytes->size(), md, &len, EVP_sha512(), nullptr), 1);
    std::string hex;
    for (unsigned int i = 0; i < len; ++i) {
      char b[3];
      std::snprintf(b, sizeof b, "%02X", md[i]);
      hex += b;
    }
    EXPECT_EQ(hash, hex);
    EXPECT_EQ(Json::parse(*bytes), openapi_v3(group, gv.substr(slash + 1)));
  }
}

TEST(OpenAPI, UnknownGroupVersionAndCaching) {
  EXPECT_TRUE(openapi_v3("nope.example.com", "v1").is_null());
  EXPECT_TRUE(openapi_v3("", "v9").is_null());
  EXPECT_EQ(openapi_v3_json("nope.example.com", "v1"), nullptr);
  // Generated once: the serialized bytes live at a stable address.
  EXPECT_EQ(&openapi_v2_json(), &openapi_v2_json());
  EXPECT_EQ(openapi_v3_json("", "v1"), openapi_v3_json("", "v1"));
  EXPECT_EQ(Json::parse(openapi_v2_json()), openapi_v2());
}

}  // namespace
}  // namespace k8c::api
