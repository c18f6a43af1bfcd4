// `k8c server`: the API server on the embedded (or an etcd) store, over HTTPS with a CA,
// server and admin certificates generated on first start.
#include "common/http.h"
#include "common/log.h"
#include "common/pki.h"
#include "control/apiserver/apiserver.h"
#include "control/client/client.h"
#include "control/client/kubeconfig.h"
#include "control/cmd/commands.h"
#include "control/controllers/garbage_collector.h"
#include "control/store/store.h"

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

namespace k8c::cmd {

namespace {

namespace fs = std::filesystem;

struct ServerFlags {
  std::string data_dir;
  std::string listen = "127.0.0.1:6443";
  std::string store_url;
  std::string token_file;
  std::string log_level = "info";
  int threads = 2;
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::pair<std::string, uint16_t> split_host_port(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos)
    throw std::runtime_error("--listen must be HOST:PORT, got " + listen);
  int port = 0;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (...) {
    port = -1;
  }
  if (port < 0 || port > 65535) throw std::runtime_error("--listen has an invalid port: " + listen);
  return {listen.substr(0, colon), static_cast<uint16_t>(port)};
}

// The CA, the serving certificate and the admin client certificate, made once per data dir.
void ensure_pki(const fs::path& dir, const std::string& host) {
  fs::path pki = dir / "pki";
  if (fs::exists(pki / "ca.crt")) return;
  fs::create_directories(pki);
  auto ca = pki::make_ca("k8c-ca");
  std::vector<std::string> sans = {"127.0.0.1",
                                   "localhost",
                                   "kubernetes",
                                   "kubernetes.default",
                                   "kubernetes.default.svc",
                                   "kubernetes.default.svc.cluster.local",
                                   "10.96.0.1"};
  if (!host.empty() && host != "0.0.0.0" && host != "127.0.0.1") sans.push_back(host);
  auto server = pki::issue(ca, "kube-apiserver", {}, sans, /*server=*/true);
  auto admin = pki::issue(ca, "admin", {"system:masters"}, {}, /*server=*/false);
  pki::write_file((pki / "server.crt").string(), server.cert_pem, false);
  pki::write_file((pki / "server.key").string(), server.key_pem, true);
  pki::write_file((pki / "admin.crt").string(), admin.cert_pem, false);
  pki::write_file((pki / "admin.key").string(), admin.key_pem, true);
  pki::write_file((pki / "ca.key").string(), ca.key_pem, true);
  pki::write_file((pki / "ca.crt").string(), ca.cert_pem, false);  // last: marks the set complete
}

std::atomic<int> g_signal{0};

int run_server(const ServerFlags& f) {
  init_logging(f.log_level);
  fs::path dir = fs::absolute(f.data_dir);
  fs::create_directories(dir);
  auto [host, port] = split_host_port(f.listen);
  ensure_pki(dir, host);

  std::string store_url =
      f.store_url.empty() ? "sqlite://" + (dir / "state.db").string() : f.store_url;
  auto store = store::open(store_url);

  apiserver::Options opts;
  if (!f.token_file.empty()) opts.tokens = apiserver::load_token_file(f.token_file);
  std::string client_host = host == "0.0.0.0" || host.empty() ? "127.0.0.1" : host;

  http::ServerOptions so;
  so.listen = f.listen;
  so.threads = f.threads;
  so.max_body_bytes = 3 * 1024 * 1024;
  so.tls = http::TlsServerConfig{(dir / "pki/server.crt").string(),
                                 (dir / "pki/server.key").string(), (dir / "pki/ca.crt").string()};

  std::unique_ptr<apiserver::ApiServer> api;
  std::unique_ptr<http::Server> server;
  {
    opts.advertise_address = client_host + ":" + std::to_string(port);
    api = std::make_unique<apiserver::ApiServer>(*store, opts);
    api->bootstrap();
    server = std::make_unique<http::Server>(so, api->handler());
    server->start();
  }
  uint16_t bound = server->port();
  std::string url = "https://" + client_host + ":" + std::to_string(bound);

  client::KubeconfigSpec spec;
  spec.server = url;
  spec.ca_pem = read_file(dir / "pki/ca.crt");
  spec.cert_pem = read_file(dir / "pki/admin.crt");
  spec.key_pem = read_file(dir / "pki/admin.key");
  std::string kubeconfig = (dir / "admin.kubeconfig").string();
  std::string err;
  if (!client::write_kubeconfig(kubeconfig, spec, &err)) throw std::runtime_error(err);

  // The controllers are API clients like any other, over HTTPS with the admin credentials.
  auto kc = client::load_kubeconfig(kubeconfig, &err);
  if (!kc) throw std::runtime_error(err);
  client::ApiClient gc_client(*kc);
  controllers::GarbageCollector gc(gc_client);
  gc.start();

  std::cout << "k8c server listening on " << url << " (store " << store_url << ")\n"
            << "export KUBECONFIG=" << kubeconfig << "\n"
            << "kubectl get namespaces" << std::endl;

  std::signal(SIGINT, [](int s) { g_signal = s; });
  std::signal(SIGTERM, [](int s) { g_signal = s; });
  std::signal(SIGPIPE, SIG_IGN);
  while (!g_signal) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  spdlog::info("signal {}: shutting down", g_signal.load());
  gc.stop();  // before the server, so its watches end cleanly rather than by a closed socket
  server->stop();
  api.reset();
  store->close();
  return 0;
}

Register reg([](CLI::App& app) {
  auto flags = std::make_shared<ServerFlags>();
  auto* cmd =
      app.add_subcommand("server", "Run the API server (HTTPS) on the embedded or an etcd store");
  cmd->add_option("--data-dir", flags->data_dir, "State directory: certificates, kubeconfig, store")
      ->required();
  cmd->add_option("--listen", flags->listen, "HOST:PORT to serve on")->capture_default_str();
  cmd->add_option("--store", flags->store_url,
                  "sqlite://PATH (default DATA_DIR/state.db) or etcd://h:p,...");
  cmd->add_option("--token-auth-file", flags->token_file,
                  "Static bearer tokens: token,user,uid,\"groups\"");
  cmd->add_option("--threads", flags->threads, "I/O threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_option("--log-level", flags->log_level, "debug, info, warn or error")
      ->capture_default_str();
  cmd->callback([flags] { run_command("server", [&] { return run_server(*flags); }); });
});

}  // namespace

}  // namespace k8c::cmd
