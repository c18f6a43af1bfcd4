#include "dataplane/health_check.h"

#include <spdlog/spdlog.h>

#include <ctime>
#include <set>

#include "common/json.h"

namespace k8c::dp {

namespace {

std::string ip_str(uint32_t host) {
  return std::to_string(host >> 24) + "." + std::to_string((host >> 16) & 0xff) + "." +
         std::to_string((host >> 8) & 0xff) + "." + std::to_string(host & 0xff);
}

// Go's time.Time.String() of a UTC time: "2006-01-02 15:04:05.999999999 +0000 UTC", trailing
// zeros of the fraction dropped (and the dot with them). The epoch stands for Go's zero time,
// which is what kube-proxy writes when nothing was ever updated.
std::string go_time(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  if (t == system_clock::time_point{}) return "0001-01-01 00:00:00 +0000 UTC";
  auto ns = duration_cast<nanoseconds>(t.time_since_epoch()).count();
  int64_t secs = ns / 1000000000, frac = ns % 1000000000;
  if (frac < 0) {
    frac += 1000000000;
    --secs;
  }
  std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  std::string out(buf, n);
  if (frac) {
    char f[16];
    std::snprintf(f, sizeof f, ".%09lld", static_cast<long long>(frac));
    std::string fs = f;
    while (fs.back() == '0') fs.pop_back();
    out += fs;
  }
  return out + " +0000 UTC";
}

}  // namespace

// ---- ProxyHealthTracker ----

ProxyHealthTracker::ProxyHealthTracker() : ProxyHealthTracker(Options{}) {}

ProxyHealthTracker::ProxyHealthTracker(Options options) : opts_(std::move(options)) {}

ProxyHealthTracker::Time ProxyHealthTracker::now() const {
  if (opts_.now) return opts_.now();
  return {std::chrono::steady_clock::now(), std::chrono::system_clock::now()};
}

void ProxyHealthTracker::queued() {
  Time t = now();
  std::lock_guard lock(mu_);
  if (!pending_) {
    pending_ = true;
    oldest_pending_ = t.mono;
  }
}

void ProxyHealthTracker::updated() {
  Time t = now();
  std::lock_guard lock(mu_);
  pending_ = false;
  ever_updated_ = true;
  last_updated_ = t.wall;
}

void ProxyHealthTracker::set_node_eligible(bool eligible) {
  std::lock_guard lock(mu_);
  node_eligible_ = eligible;
}

void ProxyHealthTracker::set_lcores(std::function<std::vector<uint64_t>()> iterations) {
  std::lock_guard lock(mu_);
  lcores_ = std::move(iterations);
  seen_.clear();
}

ProxyHealth ProxyHealthTracker::check() {
  Time t = now();
  ProxyHealth h;
  h.current_time = t.wall;
  std::lock_guard lock(mu_);
  h.node_eligible = node_eligible_;
  h.last_updated = ever_updated_ ? last_updated_ : std::chrono::system_clock::time_point{};
  auto secs = [](auto d) {
    return fmt::format("{:.1f}", std::chrono::duration<double>(d).count());
  };
  if (pending_ && t.mono - oldest_pending_ >= opts_.table_timeout) {
    h.healthy = false;
    h.reason = "a cluster change has waited " + secs(t.mono - oldest_pending_) +
               " s for its table (limit " + secs(opts_.table_timeout) + " s)";
  }
  if (lcores_) {
    std::vector<uint64_t> now_iters = lcores_();
    if (now_iters.size() != seen_.size()) {
      // New (or a different number of) lcores: every counter starts a fresh watch.
      seen_.assign(now_iters.size(), Lcore{});
      for (size_t i = 0; i < now_iters.size(); ++i) seen_[i] = {now_iters[i], t.mono};
    }
    for (size_t i = 0; i < now_iters.size(); ++i) {
      Lcore& l = seen_[i];
      if (now_iters[i] != l.iterations) {
        l.iterations = now_iters[i];
        l.moved = t.mono;
      } else if (t.mono - l.moved >= opts_.lcore_timeout && h.healthy) {
        h.healthy = false;
        h.reason = "polling lcore #" + std::to_string(i) + " has not looped for " +
                   secs(t.mono - l.moved) + " s (limit " + secs(opts_.lcore_timeout) + " s)";
      }
    }
  }
  if (h.healthy != was_healthy_) {
    if (!h.healthy)
      spdlog::warn("dataplane health: unhealthy, health checks answer 503: {}", h.reason);
    else
      spdlog::info("dataplane health: healthy again");
    was_healthy_ = h.healthy;
  }
  return h;
}

bool node_eligible(std::span<const ObjectRef> nodes, const std::string& node_name) {
  for (const auto& n : nodes) {
    if (!n || !n->is_object() || get_string(*n, {"metadata", "name"}) != node_name) continue;
    const Json* deleting = find_path(*n, {"metadata", "deletionTimestamp"});
    if (deleting && !deleting->is_null()) return false;
    const Json* taints = find_path(*n, {"spec", "taints"});
    if (taints && taints->is_array()) {
      for (const auto& taint : *taints) {
        if (taint.is_object() && get_string(taint, {"key"}) == "ToBeDeletedByClusterAutoscaler")
          return false;
      }
    }
    return true;
  }
  return true;
}

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

http::Response healthz_response(const ProxyHealth& health, bool livez) {
  bool ok = health.healthy && (livez || health.node_eligible);
  // kube-proxy's layout, spacing included.
  std::string body =
      "{\"lastUpdated\": " +
      Json(go_time(health.healthy ? health.current_time : health.last_updated)).dump() +
      ",\"currentTime\": " + Json(go_time(health.current_time)).dump();
  if (!livez)
    body += std::string(", \"nodeEligible\": ") + (health.node_eligible ? "true" : "false");
  body += "}";
  http::Response r;
  r.status = ok ? 200 : 503;
  r.headers = {{"Content-Type", "application/json"}, {"X-Content-Type-Options", "nosniff"}};
  r.body = std::move(body);
  return r;
}

// One port: its server, and the answer it gives, which update() changes in place.
struct HealthCheckServer::Entry {
  std::mutex mu;
  HealthCheckSpec spec;
  std::unique_ptr<http::Server> server;
};

HealthCheckServer::HealthCheckServer(HealthSource source)
    : source_(std::make_shared<const HealthSource>(std::move(source))) {}

HealthCheckServer::~HealthCheckServer() {
  stop();
}

http::IoLoop& HealthCheckServer::loop_locked() {
  if (!loop_) loop_ = std::make_unique<http::IoLoop>(1);
  return *loop_;
}

void HealthCheckServer::stop() {
  std::map<uint16_t, std::shared_ptr<Entry>> entries;
  std::unique_ptr<http::Server> healthz;
  std::unique_ptr<http::IoLoop> loop;
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    entries.swap(entries_);
    failed_.clear();
    healthz.swap(healthz_);
    loop.swap(loop_);
  }
  for (auto& [port, e] : entries) e->server->stop();
  if (healthz) healthz->stop();
  loop.reset();  // after every server on it has stopped
}

namespace {

// The handlers' view of the proxy's health (healthy when no source was given).
ProxyHealth current(const HealthSource& source) {
  if (source) return source();
  ProxyHealth h;
  h.current_time = h.last_updated = std::chrono::system_clock::now();
  return h;
}

http::ServerOptions probe_options(const std::string& listen) {
  http::ServerOptions so;
  so.listen = listen;
  so.max_body_bytes = 4096;  // a probe has no business sending a body
  so.max_connections = 256;
  so.header_timeout = std::chrono::milliseconds(5000);
  so.idle_timeout = std::chrono::milliseconds(30000);
  return so;
}

}  // namespace

uint16_t HealthCheckServer::serve_healthz(const std::string& listen) {
  std::lock_guard lock(mu_);
  if (stopped_) throw std::runtime_error("health check server stopped");
  if (healthz_) throw std::runtime_error("healthz is already served");
  auto server = std::make_unique<http::Server>(
      probe_options(listen),
      [source = source_](http::Request& req, std::shared_ptr<http::Responder> r) {
        if (req.path == "/healthz") return r->send(healthz_response(current(*source), false));
        if (req.path == "/livez") return r->send(healthz_response(current(*source), true));
        r->send({404, {{"Content-Type", "text/plain"}}, "not found: try /healthz or /livez\n"});
      },
      loop_locked());
  server->start();  // throws with the reason
  healthz_ = std::move(server);
  spdlog::info("dataplane health: /healthz and /livez on {} (port {})", listen, healthz_->port());
  return healthz_->port();
}

void HealthCheckServer::update(uint32_t address, const std::vector<HealthCheckSpec>& specs) {
  std::vector<std::shared_ptr<Entry>> closing;
  std::lock_guard lock(mu_);
  if (stopped_) return;
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
  // Closed first: a port that moves to another Service (or address) is free again.
  for (auto& e : closing) e->server->stop();  // under mu_: update() calls do not interleave

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
    http::ServerOptions so = probe_options(ip_str(address_) + ":" + std::to_string(s.port));
    // The handler holds the entry weakly: a request in flight while the port closes answers
    // from what it still sees, and nothing outlives the server.
    std::weak_ptr<Entry> weak = e;
    e->server = std::make_unique<http::Server>(
        so,
        [weak, source = source_](http::Request&, std::shared_ptr<http::Responder> r) {
          auto entry = weak.lock();
          if (!entry) return r->send({503, {}, "closing\n"});
          HealthCheckSpec spec;
          {
            std::lock_guard l(entry->mu);
            spec = entry->spec;
          }
          r->send(health_check_response(spec, current(*source).healthy));
        },
        loop_locked());
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
