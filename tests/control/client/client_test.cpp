// ApiClient over the real HTTP transport against a scripted http::Server (not the API server):
// what goes on the wire, how responses and failures come back, watch streaming and cancel.
#include "control/client/client.h"

#include "common/pki.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <thread>

namespace k8c::client {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

struct Seen {
  std::string method;
  std::string target;
  std::string body;
  std::string content_type;
  std::string authorization;
  std::string accept;
  std::optional<std::string> client_cn;
};

// An HTTP server whose handler the test sets; it records every request.
class FakeServer {
 public:
  using Route = std::function<void(http::Request&, std::shared_ptr<http::Responder>)>;

  explicit FakeServer(std::optional<http::TlsServerConfig> tls = std::nullopt) {
    http::ServerOptions o;
    o.tls = std::move(tls);
    server_ = std::make_unique<http::Server>(
        o, [this](http::Request& req, std::shared_ptr<http::Responder> r) {
          Route route;
          {
            std::lock_guard lock(mu_);
            Seen s{req.method, req.target, req.body, "", "", "", req.client_cn};
            if (auto* v = req.header("Content-Type")) s.content_type = *v;
            if (auto* v = req.header("Authorization")) s.authorization = *v;
            if (auto* v = req.header("Accept")) s.accept = *v;
            seen_.push_back(s);
            route = route_;
            cv_.notify_all();
          }
          route(req, std::move(r));
        });
    server_->start();
  }
  ~FakeServer() { server_->stop(); }

  void route(Route r) {
    std::lock_guard lock(mu_);
    route_ = std::move(r);
  }
  std::vector<Seen> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }
  bool wait_requests(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 5s, [&] { return seen_.size() >= n; });
  }
  uint16_t port() const { return server_->port(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  Route route_ = [](http::Request&, std::shared_ptr<http::Responder> r) {
    r->send({200, {{"Content-Type", "application/json"}}, "{}"});
  };
  std::vector<Seen> seen_;
  std::unique_ptr<http::Server> server_;
};

void reply(const std::shared_ptr<http::Responder>& r, int status, const Json& body) {
  r->send({status, {{"Content-Type", "application/json"}}, body.dump()});
}

ClientConfig plain_config(uint16_t port) {
  ClientConfig c;
  c.http.host = "127.0.0.1";
  c.http.port = port;
  c.http.timeout = 5s;
  c.token = "tok";
  return c;
}

Json pod(const std::string& ns, const std::string& name, int rv) {
  return {
      {"kind", "Pod"},
      {"apiVersion", "v1"},
      {"metadata", {{"namespace", ns}, {"name", name}, {"resourceVersion", std::to_string(rv)}}}};
}

TEST(ApiClient, VerbsPathsHeadersAndBodies) {
  FakeServer srv;
  srv.route([](http::Request& req, std::shared_ptr<http::Responder> r) {
    Json echo = {{"method", req.method}, {"target", req.target}};
    reply(r, req.method == "POST" ? 201 : 200, echo);
  });
  ApiClient c(plain_config(srv.port()));

  auto got = c.get(resources::pods, "default", "web-0");
  ASSERT_TRUE(got) << got.error().to_string();
  EXPECT_EQ((*got)["target"], "/api/v1/namespaces/default/pods/web-0");

  ListOptions lo;
  lo.label_selector = "app=web";
  lo.limit = 10;
  ASSERT_TRUE(c.list(resources::deployments, "prod", lo));
  ASSERT_TRUE(c.create(resources::configmaps, Json{{"metadata", {{"name", "cm"}}}}));
  ASSERT_TRUE(c.create(resources::nodes, Json{{"metadata", {{"name", "n1"}}}}));
  ASSERT_TRUE(
      c.update(resources::services, Json{{"metadata", {{"name", "svc"}, {"namespace", "x"}}}}));
  ASSERT_TRUE(c.update_status(resources::pods, pod("x", "p", 3)));
  ASSERT_TRUE(c.patch(resources::deployments, "prod", "web", PatchType::strategic,
                      Json{{"spec", {{"replicas", 3}}}}));
  ASSERT_TRUE(c.patch(resources::pods, "prod", "p", PatchType::json,
                      Json::array({{{"op", "remove"}, {"path", "/metadata/labels/a"}}})));
  ASSERT_TRUE(c.patch(resources::deployments, "prod", "web", PatchType::merge,
                      Json{{"spec", {{"replicas", 2}}}}, "scale"));
  DeleteOptions del;
  del.propagation_policy = "Foreground";
  ASSERT_TRUE(c.remove(resources::replicasets, "prod", "rs1", del));
  ASSERT_TRUE(c.remove(resources::namespaces, "", "old"));
  ASSERT_TRUE(c.create_subresource(resources::pods, "prod", "p", "binding",
                                   Json{{"target", {{"kind", "Node"}, {"name", "n1"}}}}));

  auto seen = srv.seen();
  ASSERT_EQ(seen.size(), 12u);
  EXPECT_EQ(seen[0].accept, "application/json");
  EXPECT_EQ(seen[0].authorization, "Bearer tok");
  EXPECT_EQ(seen[1].target,
            "/apis/apps/v1/namespaces/prod/deployments?labelSelector=app%3Dweb&limit=10");
  EXPECT_EQ(seen[2].method, "POST");
  EXPECT_EQ(seen[2].target, "/api/v1/namespaces/default/configmaps");  // default namespace
  Json created = Json::parse(seen[2].body);
  EXPECT_EQ(created["apiVersion"], "v1");  // stamped from the Resource
  EXPECT_EQ(created["kind"], "ConfigMap");
  EXPECT_EQ(seen[2].content_type, "application/json");
  EXPECT_EQ(seen[3].target, "/api/v1/nodes");
  EXPECT_EQ(seen[4].method, "PUT");
  EXPECT_EQ(seen[4].target, "/api/v1/namespaces/x/services/svc");
  EXPECT_EQ(seen[5].target, "/api/v1/namespaces/x/pods/p/status");
  EXPECT_EQ(seen[6].method, "PATCH");
  EXPECT_EQ(seen[6].content_type, "application/strategic-merge-patch+json");
  EXPECT_EQ(Json::parse(seen[6].body)["spec"]["replicas"], 3);
  EXPECT_EQ(seen[7].content_type, "application/json-patch+json");
  EXPECT_TRUE(Json::parse(seen[7].body).is_array());
  EXPECT_EQ(seen[8].content_type, "application/merge-patch+json");
  EXPECT_EQ(seen[8].target, "/apis/apps/v1/namespaces/prod/deployments/web/scale");
  EXPECT_EQ(seen[9].method, "DELETE");
  EXPECT_EQ(Json::parse(seen[9].body)["propagationPolicy"], "Foreground");
  EXPECT_EQ(seen[10].target, "/api/v1/namespaces/old");
  EXPECT_TRUE(seen[10].body.empty());
  EXPECT_EQ(seen[11].target, "/api/v1/namespaces/prod/pods/p/binding");
}

TEST(ApiClient, ErrorsAreValues) {
  FakeServer srv;
  srv.route([](http::Request& req, std::shared_ptr<http::Responder> r) {
    if (req.path.ends_with("/missing")) {
      reply(r, 404,
            {{"kind", "Status"},
             {"status", "Failure"},
             {"reason", "NotFound"},
             {"code", 404},
             {"message", "pods \"missing\" not found"}});
    } else if (req.method == "PUT") {
      reply(r, 409, {{"kind", "Status"}, {"reason", "Conflict"}, {"code", 409}});
    } else {
      r->send({502, {}, "bad gateway"});
    }
  });
  ApiClient c(plain_config(srv.port()));
  auto nf = c.get(resources::pods, "a", "missing");
  ASSERT_FALSE(nf);
  EXPECT_TRUE(nf.error().is_not_found());
  EXPECT_EQ(nf.error().message, "pods \"missing\" not found");
  auto conflict = c.update(resources::pods, pod("a", "p", 1));
  ASSERT_FALSE(conflict);
  EXPECT_TRUE(conflict.error().is_conflict());
  auto bad = c.get(resources::pods, "a", "other");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, 502);
  EXPECT_EQ(bad.error().message, "bad gateway");
  auto noname = c.update(resources::pods, Json{{"metadata", Json::object()}});
  ASSERT_FALSE(noname);
  EXPECT_EQ(noname.error().code, 400);
}

TEST(ApiClient, TransportErrorsHaveCodeZero) {
  uint16_t port;
  {
    FakeServer srv;  // learn a port nobody listens on once it stops
    port = srv.port();
  }
  ApiClient c(plain_config(port));
  auto r = c.get(resources::pods, "a", "b");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is_transport());
  EXPECT_TRUE(r.error().is_retryable());
  EXPECT_FALSE(r.error().message.empty());
}

TEST(ApiClient, ConcurrentCallsFromManyThreads) {
  FakeServer srv;
  srv.route([](http::Request& req, std::shared_ptr<http::Responder> r) {
    reply(r, 200, {{"target", req.target}});
  });
  ApiClient c(plain_config(srv.port()));
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        std::string name = "p" + std::to_string(t) + "-" + std::to_string(i);
        auto r = c.get(resources::pods, "ns", name);
        if (r && (*r)["target"] == "/api/v1/namespaces/ns/pods/" + name) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 100);
}

// Streams `events` as watch lines, split at awkward places, then ends.
void stream_events(std::shared_ptr<http::Responder> r, const std::vector<std::string>& lines) {
  r->start_stream(200, {{"Content-Type", "application/json"}});
  std::string all;
  for (const auto& l : lines) all += l + "\n";
  for (size_t i = 0; i < all.size(); i += 7) {
    r->write_chunk(std::make_shared<const std::string>(all.substr(i, 7)));
  }
  r->end_stream();
}

std::string event(const char* type, const Json& obj) {
  return Json{{"type", type}, {"object", obj}}.dump();
}

TEST(ApiClient, WatchDecodesAStreamAndSendsTheQuery) {
  FakeServer srv;
  srv.route([](http::Request&, std::shared_ptr<http::Responder> r) {
    stream_events(r,
                  {event("ADDED", pod("a", "p", 5)), event("MODIFIED", pod("a", "p", 6)),
                   event("BOOKMARK", {{"kind", "Pod"}, {"metadata", {{"resourceVersion", "9"}}}}),
                   event("DELETED", pod("a", "p", 7))});
  });
  ApiClient c(plain_config(srv.port()));
  ListOptions o;
  o.resource_version = "4";
  o.allow_watch_bookmarks = true;
  o.timeout_seconds = 30;
  std::vector<std::string> got;
  auto r = c.watch(resources::pods, "a", o, [&](WatchEvent& ev) {
    got.push_back(std::string(to_string(ev.type)) + ":" + object_resource_version(ev.object));
    return true;
  });
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(got, (std::vector<std::string>{"ADDED:5", "MODIFIED:6", "BOOKMARK:9", "DELETED:7"}));
  EXPECT_EQ(srv.seen().at(0).target,
            "/api/v1/namespaces/a/pods?resourceVersion=4&watch=true&allowWatchBookmarks=true"
            "&timeoutSeconds=30");
}

TEST(ApiClient, WatchRefusedReturnsTheStatus) {
  FakeServer srv;
  srv.route([](http::Request&, std::shared_ptr<http::Responder> r) {
    reply(r, 410,
          {{"kind", "Status"},
           {"reason", "Expired"},
           {"code", 410},
           {"message", "too old resource version: 1 (50)"}});
  });
  ApiClient c(plain_config(srv.port()));
  int events = 0;
  auto r = c.watch(resources::pods, "", {}, [&](WatchEvent&) {
    ++events;
    return true;
  });
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is_gone());
  EXPECT_EQ(r.error().message, "too old resource version: 1 (50)");
  EXPECT_EQ(events, 0);
}

TEST(ApiClient, WatchCancelIsPrompt) {
  FakeServer srv;
  std::shared_ptr<http::Responder> held;
  std::mutex mu;
  srv.route([&](http::Request&, std::shared_ptr<http::Responder> r) {
    r->start_stream(200, {{"Content-Type", "application/json"}});
    r->write_chunk(std::make_shared<const std::string>(event("ADDED", pod("a", "p", 1)) + "\n"));
    std::lock_guard lock(mu);
    held = r;  // never ends: only cancel can stop the client
  });
  ApiClient c(plain_config(srv.port()));
  Cancellation cancel;
  std::promise<void> first;
  auto fut = std::async(std::launch::async, [&] {
    bool once = false;
    return c.watch(
        resources::pods, "", {},
        [&](WatchEvent&) {
          if (!once) first.set_value();
          once = true;
          return true;
        },
        &cancel);
  });
  ASSERT_EQ(first.get_future().wait_for(5s), std::future_status::ready);
  auto t0 = std::chrono::steady_clock::now();
  cancel.cancel();
  ASSERT_EQ(fut.wait_for(5s), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  (void)fut.get();
  // Sticky: a later call with it fails at once.
  auto again = c.watch(
      resources::pods, "", {}, [](WatchEvent&) { return true; }, &cancel);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().reason, "Cancelled");
  std::lock_guard lock(mu);
  if (held) held->end_stream();
}

TEST(ApiClient, InformerOverHttpListsWatchesAndStopsPromptly) {
  FakeServer srv;
  std::mutex mu;
  std::vector<std::shared_ptr<http::Responder>> watches;
  srv.route([&](http::Request& req, std::shared_ptr<http::Responder> r) {
    auto q = http::parse_query(req.query);
    bool watch = std::any_of(q.begin(), q.end(), [](auto& kv) { return kv.first == "watch"; });
    if (!watch) {
      Json items = Json::array({pod("a", "p1", 2)});
      items[0].erase("kind");
      reply(r, 200,
            {{"kind", "PodList"},
             {"apiVersion", "v1"},
             {"metadata", {{"resourceVersion", "7"}}},
             {"items", items}});
      return;
    }
    r->start_stream(200, {{"Content-Type", "application/json"}});
    r->write_chunk(std::make_shared<const std::string>(event("ADDED", pod("a", "p2", 8)) + "\n"));
    std::lock_guard lock(mu);
    watches.push_back(r);
  });
  auto client = std::make_shared<ApiClient>(plain_config(srv.port()));
  auto inf = make_informer(client, resources::pods, "a", "app=web");
  std::atomic<int> adds{0};
  EventHandlers h;
  h.on_add = [&](const ObjectPtr&) { ++adds; };
  inf->add_handlers(h);
  inf->start();
  ASSERT_TRUE(inf->wait_for_sync(5s));
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (adds < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(adds.load(), 2);
  EXPECT_EQ(inf->store().size(), 2u);
  EXPECT_EQ(inf->resource_version(), "8");
  auto seen = srv.seen();
  ASSERT_GE(seen.size(), 2u);
  EXPECT_EQ(seen[0].target, "/api/v1/namespaces/a/pods?labelSelector=app%3Dweb&limit=500");
  EXPECT_NE(seen[1].target.find("resourceVersion=7&watch=true&allowWatchBookmarks=true"),
            std::string::npos);
  auto stopped = std::async(std::launch::async, [&] { inf->stop(); });
  EXPECT_EQ(stopped.wait_for(5s), std::future_status::ready);
  std::lock_guard lock(mu);
  for (auto& w : watches) w->end_stream();
}

TEST(ApiClient, MutualTlsFromAGeneratedKubeconfig) {
  std::string dir = (fs::temp_directory_path() / "k8c-client-tls-XXXXXX").string();
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  auto ca = pki::make_ca("k8c-ca");
  auto server = pki::issue(ca, "kube-apiserver", {}, {"127.0.0.1", "localhost"}, true);
  auto admin = pki::issue(ca, "admin", {"system:masters"}, {}, false);
  pki::write_file(dir + "/ca.crt", ca.cert_pem, false);
  pki::write_file(dir + "/server.crt", server.cert_pem, false);
  pki::write_file(dir + "/server.key", server.key_pem, true);
  FakeServer srv(http::TlsServerConfig{dir + "/server.crt", dir + "/server.key", dir + "/ca.crt"});
  srv.route([](http::Request& req, std::shared_ptr<http::Responder> r) {
    reply(r, 200, {{"user", req.client_cn.value_or("")}});
  });

  KubeconfigSpec spec;
  spec.server = "https://127.0.0.1:" + std::to_string(srv.port());
  spec.ca_pem = ca.cert_pem;
  spec.cert_pem = admin.cert_pem;
  spec.key_pem = admin.key_pem;
  std::string err;
  ASSERT_TRUE(write_kubeconfig(dir + "/admin.kubeconfig", spec, &err)) << err;
  auto client = ApiClient::from_kubeconfig_file(dir + "/admin.kubeconfig", &err);
  ASSERT_TRUE(client) << err;
  auto r = client->get(resources::namespaces, "", "default");
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ((*r)["user"], "admin");
  client.reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace k8c::client
