// PartialObjectMetadata views (Accept: application/json;as=PartialObjectMetadata...) for get,
// list and watch, against a real in-process API server through the real client.
#include "tests/control/local_api_server.h"

#include <gtest/gtest.h>

namespace k8c::apiserver {
namespace {

using client::resources::configmaps;

class MetadataViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"a", "b"}) {
      Json cm = {
          {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", {{"app", name}}}}},
          {"data", {{"big", std::string(4096, 'x')}}}};
      auto r = api_.client().create(configmaps, cm);
      ASSERT_TRUE(r) << r.error().to_string();
    }
  }

  static void expect_metadata_only(const Json& obj, const std::string& name) {
    EXPECT_EQ(obj.value("kind", ""), "PartialObjectMetadata");
    EXPECT_EQ(obj.value("apiVersion", ""), "meta.k8s.io/v1");
    EXPECT_EQ(get_string(obj, {"metadata", "name"}), name);
    EXPECT_FALSE(get_string(obj, {"metadata", "uid"}).empty());
    EXPECT_FALSE(get_string(obj, {"metadata", "resourceVersion"}).empty());
    EXPECT_EQ(get_string(obj, {"metadata", "labels", "app"}), name);
    EXPECT_FALSE(obj.contains("data"));
  }

  testing::LocalApiServer api_;
};

TEST_F(MetadataViewTest, GetReturnsMetadataOnly) {
  auto r = api_.client().request("GET", "/api/v1/namespaces/default/configmaps/a", nullptr,
                                 "application/json", nullptr,
                                 "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1");
  ASSERT_TRUE(r) << r.error().to_string();
  expect_metadata_only(*r, "a");
  // Without the Accept parameter the whole object comes back.
  auto whole = api_.client().get(configmaps, "default", "a");
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->value("kind", ""), "ConfigMap");
  EXPECT_TRUE(whole->contains("data"));
}

TEST_F(MetadataViewTest, ListReturnsPartialObjectMetadataListWithPagingAndSelectors) {
  client::ListOptions opts;
  opts.metadata_only = true;
  opts.limit = 1;
  auto page = api_.client().list(configmaps, "default", opts);
  ASSERT_TRUE(page) << page.error().to_string();
  EXPECT_EQ(page->value("kind", ""), "PartialObjectMetadataList");
  EXPECT_EQ(page->value("apiVersion", ""), "meta.k8s.io/v1");
  ASSERT_EQ((*page)["items"].size(), 1u);
  expect_metadata_only((*page)["items"][0], "a");
  std::string token = get_string(*page, {"metadata", "continue"});
  ASSERT_FALSE(token.empty());
  opts.continue_token = token;
  auto rest = api_.client().list(configmaps, "default", opts);
  ASSERT_TRUE(rest) << rest.error().to_string();
  ASSERT_EQ((*rest)["items"].size(), 1u);
  expect_metadata_only((*rest)["items"][0], "b");

  client::ListOptions selected;
  selected.metadata_only = true;
  selected.label_selector = "app=b";
  auto only_b = api_.client().list(configmaps, "default", selected);
  ASSERT_TRUE(only_b);
  ASSERT_EQ((*only_b)["items"].size(), 1u);
  expect_metadata_only((*only_b)["items"][0], "b");
}

TEST_F(MetadataViewTest, WatchStreamsMetadataOnlyEvents) {
  for (const char* selector : {"", "app=a"}) {
    client::ListOptions opts;
    opts.metadata_only = true;
    opts.label_selector = selector;
    opts.resource_version = "0";  // start with the current state as ADDED events
    opts.timeout_seconds = 5;
    std::vector<Json> seen;
    auto r = api_.client().watch(configmaps, "default", opts, [&](client::WatchEvent& ev) {
      seen.push_back(ev.object);
      return false;  // the first event is enough
    });
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_EQ(seen.size(), 1u) << selector;
    expect_metadata_only(seen[0], "a");
  }
}

TEST_F(MetadataViewTest, MetadataInformerCachesMetadataOnly) {
  client::InformerOptions io;
  io.metadata_only = true;
  auto inf = client::make_informer(api_.shared_client(), configmaps, "default", {}, {}, io);
  inf->start();
  ASSERT_TRUE(inf->wait_for_sync(std::chrono::seconds(20)));
  auto a = inf->store().get("default", "a");
  ASSERT_TRUE(a);
  expect_metadata_only(*a, "a");
  inf->stop();
}

}  // namespace
}  // namespace k8c::apiserver
