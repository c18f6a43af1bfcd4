// The garbage collector against a real in-process API server over HTTPS: Background, Foreground
// and Orphan deletion, dangling references with and without a remaining owner.
#include "control/controllers/garbage_collector.h"

#include "common/pki.h"
#include "control/apiserver/apiserver.h"
#include "control/store/store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <thread>

namespace k8c::controllers {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
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
    std::string tmpl = (fs::temp_directory_path() / "k8c-gc-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto ca = pki::make_ca("test-ca");
    auto server = pki::issue(ca, "kube-apiserver", {}, {"127.0.0.1"}, /*server=*/true);
    auto admin = pki::issue(ca, "admin", {"system:masters"}, {}, /*server=*/false);
    pki::write_file(path("ca.crt"), ca.cert_pem, false);
    pki::write_file(path("server.crt"), server.cert_pem, false);
    pki::write_file(path("server.key"), server.key_pem, true);
    pki::write_file(path("admin.crt"), admin.cert_pem, false);
    pki::write_file(path("admin.key"), admin.key_pem, true);

    store_ = store::open("sqlite://" + path("state.db"));
    api_ = std::make_unique<apiserver::ApiServer>(*store_, apiserver::Options{});
    api_->bootstrap();
    http::ServerOptions so;
    so.tls = http::TlsServerConfig{path("server.crt"), path("server.key"), path("ca.crt")};
    server_ = std::make_unique<http::Server>(so, api_->handler());
    server_->start();

    client::ClientConfig cfg;
    cfg.http.host = "127.0.0.1";
    cfg.http.port = server_->port();
    cfg.http.tls = true;
    cfg.http.ca_file = path("ca.crt");
    cfg.http.cert_file = path("admin.crt");
    cfg.http.key_file = path("admin.key");
    cfg.http.timeout = 10s;
    client_ = std::make_unique<client::ApiClient>(cfg);
    gc_ = std::make_unique<GarbageCollector>(*client_);
    gc_->start();
    ASSERT_TRUE(eventually([&] { return gc_->has_synced(); }));
  }

  void TearDown() override {
    if (gc_) gc_->stop();
    gc_.reset();
    client_.reset();
    if (server_) server_->stop();
    api_.reset();
    if (store_) store_->close();
    fs::remove_all(dir_);
  }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

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

  fs::path dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<apiserver::ApiServer> api_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<client::ApiClient> client_;
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
