#include "control/client/rest.h"

#include <gtest/gtest.h>

#include <random>

namespace k8c::client {
namespace {

TEST(ResourcePath, CoreNamespacedAndClusterScoped) {
  EXPECT_EQ(resource_path(resources::pods, "default", "web-0"),
            "/api/v1/namespaces/default/pods/web-0");
  EXPECT_EQ(resource_path(resources::pods, "default"), "/api/v1/namespaces/default/pods");
  EXPECT_EQ(resource_path(resources::pods, ""), "/api/v1/pods");  // all namespaces
  EXPECT_EQ(resource_path(resources::pods, "ns", "p", "status"),
            "/api/v1/namespaces/ns/pods/p/status");
  EXPECT_EQ(resource_path(resources::pods, "ns", "p", "binding"),
            "/api/v1/namespaces/ns/pods/p/binding");
  // Cluster-scoped kinds ignore a namespace.
  EXPECT_EQ(resource_path(resources::nodes, "default", "n1"), "/api/v1/nodes/n1");
  EXPECT_EQ(resource_path(resources::namespaces, "", "kube-system"),
            "/api/v1/namespaces/kube-system");
  EXPECT_EQ(resource_path(resources::persistentvolumes, ""), "/api/v1/persistentvolumes");
}

TEST(ResourcePath, NamedGroups) {
  EXPECT_EQ(resource_path(resources::deployments, "prod", "web", "scale"),
            "/apis/apps/v1/namespaces/prod/deployments/web/scale");
  EXPECT_EQ(resource_path(resources::leases, "kube-node-lease", "n1"),
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1");
  EXPECT_EQ(resource_path(resources::ingressclasses, "", "nginx"),
            "/apis/networking.k8s.io/v1/ingressclasses/nginx");
  EXPECT_EQ(resource_path(resources::endpointslices, ""),
            "/apis/discovery.k8s.io/v1/endpointslices");
  EXPECT_EQ(resource_path(resources::cronjobs, "a"), "/apis/batch/v1/namespaces/a/cronjobs");
  EXPECT_EQ(resources::deployments.api_version(), "apps/v1");
  EXPECT_EQ(resources::pods.api_version(), "v1");
}

TEST(ResourcePath, EncodesSegments) {
  // Names with ':' exist (e.g. RBAC "system:node"); they must not break the path.
  EXPECT_EQ(resource_path(resources::configmaps, "ns", "a b/c:d"),
            "/api/v1/namespaces/ns/configmaps/a%20b%2Fc%3Ad");
}

TEST(ListQuery, EmptyAndFull) {
  EXPECT_EQ(list_query({}), "");
  ListOptions o;
  o.label_selector = "app=web,tier in (a,b)";
  o.field_selector = "spec.nodeName=n1";
  o.limit = 500;
  o.continue_token = "abc+/=";
  o.resource_version = "42";
  o.watch = true;
  o.allow_watch_bookmarks = true;
  o.timeout_seconds = 300;
  EXPECT_EQ(list_query(o),
            "labelSelector=app%3Dweb%2Ctier%20in%20%28a%2Cb%29&fieldSelector=spec.nodeName%3Dn1"
            "&limit=500&continue=abc%2B%2F%3D&resourceVersion=42&watch=true"
            "&allowWatchBookmarks=true&timeoutSeconds=300");
}

TEST(ListQuery, ResourceVersionMatchAndZeroTimeout) {
  ListOptions o;
  o.resource_version = "0";
  o.resource_version_match = "NotOlderThan";
  o.timeout_seconds = 0;
  EXPECT_EQ(list_query(o), "resourceVersion=0&resourceVersionMatch=NotOlderThan&timeoutSeconds=0");
}

TEST(PercentEncode, UnreservedPassThrough) {
  EXPECT_EQ(percent_encode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(percent_encode("!=&é"), "%21%3D%26%C3%A9");
}

TEST(DeleteOptions, Body) {
  DeleteOptions d;
  EXPECT_TRUE(d.empty());
  d.propagation_policy = "Foreground";
  d.grace_period_seconds = 0;
  d.precondition_uid = "u1";
  d.dry_run = true;
  EXPECT_FALSE(d.empty());
  Json b = d.to_json();
  EXPECT_EQ(b["kind"], "DeleteOptions");
  EXPECT_EQ(b["propagationPolicy"], "Foreground");
  EXPECT_EQ(b["gracePeriodSeconds"], 0);
  EXPECT_EQ(b["preconditions"]["uid"], "u1");
  EXPECT_EQ(b["dryRun"], Json::array({"All"}));
}

TEST(PatchType, ContentTypes) {
  EXPECT_EQ(content_type(PatchType::merge), "application/merge-patch+json");
  EXPECT_EQ(content_type(PatchType::strategic), "application/strategic-merge-patch+json");
  EXPECT_EQ(content_type(PatchType::json), "application/json-patch+json");
}

TEST(Status, ParsesStatusBody) {
  std::string body = R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
    "message":"pods \"x\" not found","reason":"NotFound",
    "details":{"name":"x","kind":"pods"},"code":404})";
  ApiError e = error_from_response(404, body);
  EXPECT_EQ(e.code, 404);
  EXPECT_EQ(e.reason, "NotFound");
  EXPECT_EQ(e.message, "pods \"x\" not found");
  EXPECT_EQ(e.status["details"]["name"], "x");
  EXPECT_TRUE(e.is_not_found());
  EXPECT_FALSE(e.is_conflict());
  EXPECT_FALSE(e.is_transport());
  EXPECT_EQ(e.to_string(), "404 NotFound: pods \"x\" not found");
}

TEST(Status, ConflictVsAlreadyExists) {
  ApiError c = error_from_response(
      409, R"({"kind":"Status","reason":"Conflict","code":409,"message":"modified"})");
  EXPECT_TRUE(c.is_conflict());
  EXPECT_FALSE(c.is_already_exists());
  ApiError a = error_from_response(409, R"({"kind":"Status","reason":"AlreadyExists","code":409})");
  EXPECT_TRUE(a.is_already_exists());
  EXPECT_FALSE(a.is_conflict());
}

TEST(Status, StatusWithoutCodeTakesHttpStatus) {
  ApiError e = error_from_response(422, R"({"kind":"Status","message":"bad"})");
  EXPECT_EQ(e.code, 422);
  EXPECT_EQ(e.reason, "Invalid");
  EXPECT_TRUE(e.is_invalid());
}

TEST(Status, NonStatusBody) {
  ApiError e = error_from_response(503, "upstream unavailable\nmore detail");
  EXPECT_EQ(e.code, 503);
  EXPECT_EQ(e.reason, "ServiceUnavailable");
  EXPECT_EQ(e.message, "upstream unavailable");
  EXPECT_TRUE(e.is_retryable());
  ApiError empty = error_from_response(500, "");
  EXPECT_EQ(empty.message, "HTTP 500");
  // JSON that is not a Status is not mistaken for one.
  ApiError other = error_from_response(400, R"({"kind":"Pod"})");
  EXPECT_EQ(other.reason, "BadRequest");
}

TEST(Status, WatchErrorEventStatus) {
  Json st = {{"kind", "Status"},
             {"status", "Failure"},
             {"code", 410},
             {"reason", "Expired"},
             {"message", "too old resource version: 5 (10)"}};
  ApiError e = error_from_status(st, 500);
  EXPECT_EQ(e.code, 410);
  EXPECT_TRUE(e.is_gone());
  ApiError no_code = error_from_status(Json{{"reason", "Expired"}}, 500);
  EXPECT_EQ(no_code.code, 500);
  EXPECT_TRUE(no_code.is_gone());  // by reason
}

TEST(ObjectKeys, KeyAndSplit) {
  Json pod = {{"metadata", {{"namespace", "ns"}, {"name", "p"}, {"resourceVersion", "7"}}}};
  Json node = {{"metadata", {{"name", "n1"}}}};
  EXPECT_EQ(object_key(pod), "ns/p");
  EXPECT_EQ(object_key(node), "n1");
  EXPECT_EQ(object_resource_version(pod), "7");
  EXPECT_EQ(split_key("ns/p"), std::make_pair(std::string("ns"), std::string("p")));
  EXPECT_EQ(split_key("n1"), std::make_pair(std::string(""), std::string("n1")));
}

std::string event_line(const char* type, const std::string& name, int rv) {
  Json ev = {
      {"type", type},
      {"object",
       {{"kind", "Pod"},
        {"metadata",
         {{"name", name}, {"namespace", "default"}, {"resourceVersion", std::to_string(rv)}}},
        {"data", "line with \\n escaped newline and {braces}"}}}};
  return ev.dump() + "\n";
}

TEST(WatchDecoder, DecodesAcrossEveryChunkSplit) {
  std::string stream =
      event_line("ADDED", "a", 1) + event_line("MODIFIED", "a", 2) +
      "\n" +  // a blank keep-alive line
      R"({"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"3"}}})"
      "\r\n" +
      event_line("DELETED", "a", 4);
  // Every split point into two chunks, then random multi-way splits.
  auto check = [&](const std::vector<std::string_view>& chunks) {
    WatchDecoder d;
    std::vector<std::pair<EventType, std::string>> got;
    for (auto c : chunks) {
      ASSERT_TRUE(d.feed(c, [&](WatchEvent& ev) {
        got.emplace_back(ev.type, object_resource_version(ev.object));
        return true;
      })) << d.error();
    }
    ASSERT_TRUE(d.finish([](WatchEvent&) { return true; })) << d.error();
    std::vector<std::pair<EventType, std::string>> want = {{EventType::added, "1"},
                                                           {EventType::modified, "2"},
                                                           {EventType::bookmark, "3"},
                                                           {EventType::deleted, "4"}};
    EXPECT_EQ(got, want);
  };
  std::string_view sv = stream;
  for (size_t i = 0; i <= sv.size(); ++i) check({sv.substr(0, i), sv.substr(i)});
  std::mt19937 rng(42);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::string_view> chunks;
    size_t pos = 0;
    while (pos < sv.size()) {
      size_t n = std::uniform_int_distribution<size_t>(1, 17)(rng);
      chunks.push_back(sv.substr(pos, n));
      pos += n;
    }
    check(chunks);
  }
  // Byte by byte.
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < sv.size(); ++i) bytes.push_back(sv.substr(i, 1));
  check(bytes);
}

TEST(WatchDecoder, ErrorEventCarriesStatus) {
  WatchDecoder d;
  std::optional<WatchEvent> got;
  ASSERT_TRUE(d.feed(R"({"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired"}})"
                     "\n",
                     [&](WatchEvent& ev) {
                       got = ev;
                       return true;
                     }));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->type, EventType::error);
  EXPECT_TRUE(error_from_status(got->object).is_gone());
}

TEST(WatchDecoder, StopsWhenCallbackSaysSo) {
  WatchDecoder d;
  int n = 0;
  std::string two = event_line("ADDED", "a", 1) + event_line("ADDED", "b", 2);
  ASSERT_TRUE(d.feed(two, [&](WatchEvent&) {
    ++n;
    return false;
  }));
  EXPECT_TRUE(d.stopped());
  EXPECT_EQ(n, 1);
  ASSERT_TRUE(d.feed(event_line("ADDED", "c", 3), [&](WatchEvent&) {
    ++n;
    return true;
  }));
  EXPECT_EQ(n, 1);
}

TEST(WatchDecoder, MalformedInput) {
  auto cb = [](WatchEvent&) { return true; };
  WatchDecoder bad_json;
  EXPECT_FALSE(bad_json.feed("{not json}\n", cb));
  EXPECT_NE(bad_json.error().find("malformed"), std::string::npos);
  EXPECT_FALSE(bad_json.feed(event_line("ADDED", "a", 1), cb));  // stays failed

  WatchDecoder bad_type;
  EXPECT_FALSE(bad_type.feed(R"({"type":"EXPLODED","object":{}})"
                             "\n",
                             cb));
  WatchDecoder no_type;  // e.g. a Status body on a failed watch request
  EXPECT_FALSE(no_type.feed(R"({"kind":"Status","code":403})"
                            "\n",
                            cb));

  WatchDecoder truncated;
  ASSERT_TRUE(truncated.feed(R"({"type":"ADDED","obj)", cb));
  EXPECT_FALSE(truncated.finish(cb));
  EXPECT_NE(truncated.error().find("ended inside"), std::string::npos);
}

TEST(WatchDecoder, FinalEventWithoutNewline) {
  WatchDecoder d;
  int n = 0;
  auto cb = [&](WatchEvent&) {
    ++n;
    return true;
  };
  std::string line = event_line("ADDED", "a", 1);
  line.pop_back();
  ASSERT_TRUE(d.feed(line, cb));
  EXPECT_EQ(n, 0);
  ASSERT_TRUE(d.finish(cb));
  EXPECT_EQ(n, 1);
}

}  // namespace
}  // namespace k8c::client
