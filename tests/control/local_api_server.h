// A real API server in-process for tests: SQLite store in a temporary directory, HTTPS with a
// generated CA, and an admin client. Components are tested against it through the real client,
// as they run in production; only the process boundary is missing.
#pragma once

#include "common/pki.h"
#include "control/apiserver/apiserver.h"
#include "control/client/client.h"
#include "control/store/store.h"

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

namespace k8c::testing {

class LocalApiServer {
 public:
  LocalApiServer() {
    namespace fs = std::filesystem;
    std::string tmpl = (fs::temp_directory_path() / "k8c-api-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
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
    client_ = std::make_shared<client::ApiClient>(client_config());
  }

  ~LocalApiServer() {
    client_.reset();
    if (server_) server_->stop();
    api_.reset();
    if (store_) store_->close();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  LocalApiServer(const LocalApiServer&) = delete;
  LocalApiServer& operator=(const LocalApiServer&) = delete;

  client::ClientConfig client_config() const {
    client::ClientConfig cfg;
    cfg.http.host = "127.0.0.1";
    cfg.http.port = server_->port();
    cfg.http.tls = true;
    cfg.http.ca_file = path("ca.crt");
    cfg.http.cert_file = path("admin.crt");
    cfg.http.key_file = path("admin.key");
    cfg.http.timeout = std::chrono::seconds(10);
    return cfg;
  }
  client::ApiClient& client() { return *client_; }
  std::shared_ptr<client::ApiClient> shared_client() { return client_; }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  uint16_t port() const { return server_->port(); }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<apiserver::ApiServer> api_;
  std::unique_ptr<http::Server> server_;
  std::shared_ptr<client::ApiClient> client_;
};

}  // namespace k8c::testing
