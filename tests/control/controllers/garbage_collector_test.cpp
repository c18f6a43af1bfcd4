// The garbage collector against a real in-process API server over HTTPS: Background, Foreground
// and Orphan deletion, dangling references with and without a remaining owner.
#include "control/controllers/garbage_collector.h"

#include "tests/control/local_api_server.h"

#include <gtest/gtest.h>
#include <functional>
#include <thread>

namespace k8c::controllers {
namespace {

using namespace std::chrono_literals;
using client::resources::configmaps;

// Generous: the collector is asynchronous, and this bounds a failure, not a speed.
bool eventually(const std::function<bool()>& cond, std::chrono::seconds limit = 20s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return cond();
}

class GarbageCollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api_ = std::make_unique<testing::LocalApiServer>();
    client_ = &api_->client();
    gc_ = std::make_unique<GarbageCollector>(*client_);
    gc_->start();
    ASSERT_TRUE(eventually([&] { return gc_->has_synced(); }));
  }

  void TearDown() override {
    if (gc_) gc_->stop();
    gc_.reset();
    api_.reset();
  }

  // Creates a ConfigMap; returns its uid.
  std::string create(const std::string& name, Json owner_refs = nullptr,
                     Json finalizers = nullptr) {
    Json obj = {{"metadata", {{"name", name}, {"namespace", "default"}}}, {"data", {{"k", "v"}}}};
    if (!owner_refs.is_null()) obj["metadata"]["ownerReferences"] = std::move(owner_refs);
    if (!finalizers.is_null()) obj["metadata"]["finalizers"] = std::move(finalizers);
    auto res = client_->create(configmaps, obj);
    EXPECT_TRUE(res) << res.error().to_string();
    return res ? get_string(*res, {"metadata", "uid"}) : std::string();
  }

  static Json ref(const std::string& name, const std::string& uid, bool block = false) {
    Json r = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"name", name}, {"uid", uid}};
    if (block) r["blockOwnerDeletion"] = true;
    return r;
  }

  client::Result<Json> get(const std::string& name) {
    return client_->get(configmaps, "default", name);
  }
  bool gone(const std::string& name) {
    auto r = get(name);
    return !r && r.error().is_not_found();
  }
  void remove(const std::string& name, std::optional<std::string> policy) {
    client::DeleteOptions opts;
    opts.propagation_policy = std::move(policy);
    auto res = client_->remove(configmaps, "default", name, opts);
    ASSERT_TRUE(res) << res.error().to_string();
  }

  std::unique_ptr<testing::LocalApiServer> api_;
  client::ApiClient* client_ = nullptr;
  std::unique_ptr<GarbageCollector> gc_;
};

TEST_F(GarbageCollectorTest, BackgroundDeletionRemovesDependents) {
  std::string owner = create("owner");
  create("child-a", Json::array({ref("owner", owner)}));
  create("child-b", Json::array({ref("owner", owner, /*block=*/true)}));
  create("bystander");
  remove("owner", "Background");
  EXPECT_TRUE(eventually([&] { return gone("child-a") && gone("child-b"); }));
  EXPECT_TRUE(get("bystander")) << "an object without owners is never collected";
}

TEST_F(GarbageCollectorTest, ForegroundDeletionWaitsForBlockingDependents) {
  std::string owner = create("owner");
  // The finalizer holds this dependent in deletion, so the owner's wait can be observed.
  create("held", Json::array({ref("owner", owner, /*block=*/true)}),
         Json::array({"example.com/hold"}));
  create("plain", Json::array({ref("owner", owner)}));
  remove("owner", "Foreground");

  ASSERT_TRUE(eventually([&] {
    auto held = get("held");
    return gone("plain") && held && find_path(*held, {"metadata", "deletionTimestamp"});
  }));
  // The owner waits, marked for deletion, while a blocking dependent remains.
  auto o = get("owner");
  ASSERT_TRUE(o) << o.error().to_string();
  EXPECT_TRUE(find_path(*o, {"metadata", "deletionTimestamp"}));

  auto res = client_->patch(configmaps, "default", "held", client::PatchType::merge,
                            Json{{"metadata", {{"finalizers", nullptr}}}});
  ASSERT_TRUE(res) << res.error().to_string();
  EXPECT_TRUE(eventually([&] { return gone("held") && gone("owner"); }));
}

TEST_F(GarbageCollectorTest, OrphanDeletionKeepsDependentsWithoutTheReference) {
  std::string owner = create("owner");
  std::string other = create("other-owner");
  create("child", Json::array({ref("owner", owner)}));
  create("shared", Json::array({ref("owner", owner), ref("other-owner", other)}));
  remove("owner", "Orphan");
  ASSERT_TRUE(eventually([&] { return gone("owner"); }));

  auto child = get("child");
  ASSERT_TRUE(child) << child.error().to_string();
  EXPECT_EQ(find_path(*child, {"metadata", "ownerReferences"}), nullptr);
  auto shared = get("shared");
  ASSERT_TRUE(shared) << shared.error().to_string();
  EXPECT_EQ((*shared)["metadata"]["ownerReferences"], Json::array({ref("other-owner", other)}));
}

TEST_F(GarbageCollectorTest, DanglingReferences) {
  std::string other = create("other-owner");
  // Owners that never existed: the API server does not check references, the collector does.
  create("orphaned", Json::array({ref("ghost", "00000000-0000-0000-0000-000000000001")}));
  create("half", Json::array({ref("ghost", "00000000-0000-0000-0000-000000000001"),
                              ref("other-owner", other)}));
  // A namesake of the owner with another uid does not keep the dependent alive.
  create("namesake", Json::array({ref("other-owner", "00000000-0000-0000-0000-000000000002")}));

  EXPECT_TRUE(eventually([&] { return gone("orphaned") && gone("namesake"); }));
  EXPECT_TRUE(eventually([&] {
    auto half = get("half");
    return half &&
           (*half)["metadata"]["ownerReferences"] == Json::array({ref("other-owner", other)});
  }));
  EXPECT_TRUE(get("other-owner"));
}

}  // namespace
}  // namespace k8c::controllers
