#include "dataplane/health_check.h"

#include <spdlog/spdlog.h>

#include <set>

#include "common/json.h"

namespace k8c::dp {

namespace {

std::string ip_str(uint32_t host) {
  return std::to_string(host >> 24) + "." + std::to_string((host >> 16) & 0xff) + "." +
         std::to_string((host >> 8) & 0xff) + "." + std::to_string(host & 0xff);
}

}  // namespace

http::Response health_check_response(const HealthCheckSpec& spec, bool healthy) {
  // kube-proxy's layout (Go's json.MarshalIndent with a tab), field order included; names are
  // escaped as JSON strings.
  std::string body = "{\n\t\"service\": {\n\t\t\"namespace\": " + Json(spec.ns).dump() +
                     ",\n\t\t\"name\": " + Json(spec.name).dump() +
                     "\n\t},\n\t\"localEndpoints\": " + std::to_string(spec.local_endpoints) +
                     ",\n\t\"serviceProxyHealthy\": " + (healthy ? "true" : "false") + "\n}";
  http::Response r;
  r.status = spec.local_endpoints > 0 && healthy ? 200 : 503;
  r.headers = {{"Content-Type", "application/json"},
               {"X-Content-Type-Options", "nosniff"},
               {"X-Load-Balancing-Endpoint-Weight", std::to_string(spec.local_endpoints)}};
  r.body = std::move(body);
  return r;
}

// One port: its server, and the answer it gives, which update() changes in place.
struct HealthCheckServer::Entry {
  std::mutex mu;
  HealthCheckSpec spec;
  std::unique_ptr<http::Server> server;
};

HealthCheckServer::HealthCheckServer() = default;

HealthCheckServer::~HealthCheckServer() {
  stop();
}

void HealthCheckServer::stop() {
  std::map<uint16_t, std::shared_ptr<Entry>> entries;
  {
    std::lock_guard lock(mu_);
    entries.swap(entries_);
    failed_.clear();
  }
  for (auto& [port, e] : entries) e->server->stop();
}

void HealthCheckServer::update(uint32_t address, const std::vector<HealthCheckSpec>& specs) {
  std::vector<std::shared_ptr<Entry>> closing;
  std::lock_guard lock(mu_);
  if (address != address_) {  // a new node address: every port moves
    for (auto& [port, e] : entries_) closing.push_back(e);
    entries_.clear();
    failed_.clear();
    address_ = address;
  }
  std::set<uint16_t> wanted;
  for (const auto& s : specs) wanted.insert(s.port);
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (wanted.count(it->first)) {
      ++it;
      continue;
    }
    spdlog::info("dataplane health check: closed port {} ({}/{})", it->first, it->second->spec.ns,
                 it->second->spec.name);
    closing.push_back(it->second);
    it = entries_.erase(it);
  }
  std::erase_if(failed_, [&](const auto& f) { return !wanted.count(f.first); });

  for (const auto& s : specs) {
    auto it = entries_.find(s.port);
    if (it != entries_.end()) {
      std::lock_guard elock(it->second->mu);
      it->second->spec = s;
      continue;
    }
    if (!address_) continue;
    auto e = std::make_shared<Entry>();
    e->spec = s;
    http::ServerOptions so;
    so.listen = ip_str(address_) + ":" + std::to_string(s.port);
    so.threads = 1;
    so.max_body_bytes = 4096;  // a probe has no business sending a body
    so.max_connections = 256;
    so.header_timeout = std::chrono::milliseconds(5000);
    so.idle_timeout = std::chrono::milliseconds(30000);
    // The handler holds the entry weakly: a request in flight while the port closes answers
    // from what it still sees, and nothing outlives the server.
    std::weak_ptr<Entry> weak = e;
    e->server = std::make_unique<http::Server>(
        so, [weak](http::Request&, std::shared_ptr<http::Responder> r) {
          auto entry = weak.lock();
          if (!entry) return r->send({503, {}, "closing\n"});
          HealthCheckSpec spec;
          {
            std::lock_guard l(entry->mu);
            spec = entry->spec;
          }
          r->send(health_check_response(spec));
        });
    try {
      e->server->start();
    } catch (const std::exception& ex) {
      std::string why = ex.what();
      auto f = failed_.find(s.port);
      if (f == failed_.end() || f->second != why)
        spdlog::warn(
            "dataplane health check: cannot serve {}/{} on {}: {} (retried on the next "
            "change; is the node address on a kernel interface, e.g. --kernel-port?)",
            s.ns, s.name, so.listen, why);
      failed_[s.port] = why;
      continue;
    }
    failed_.erase(s.port);
    spdlog::info("dataplane health check: serving {}/{} on {}", s.ns, s.name, so.listen);
    entries_.emplace(s.port, std::move(e));
  }
  for (auto& e : closing) e->server->stop();  // under mu_: update() calls do not interleave
}

std::map<uint16_t, std::string> HealthCheckServer::listening() const {
  std::lock_guard lock(mu_);
  std::map<uint16_t, std::string> out;
  for (const auto& [port, e] : entries_) {
    std::lock_guard elock(e->mu);
    out[port] = e->spec.ns + "/" + e->spec.name;
  }
  return out;
}

std::vector<std::string> HealthCheckServer::failures() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [port, why] : failed_) out.push_back(std::to_string(port) + ": " + why);
  return out;
}

}  // namespace k8c::dp
