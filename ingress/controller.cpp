#include "ingress/controller.h"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "ingress/status.h"

namespace k8c::ingress {

namespace {

enum Source : size_t { kIngresses, kIngressClasses, kServices, kEndpointSlices, kSecrets };

void copy_into(const std::vector<client::ObjectPtr>& from, std::vector<Json>& to) {
  to.reserve(from.size());
  for (const auto& o : from) {
    if (o) to.push_back(*o);
  }
}

}  // namespace

Snapshot snapshot_from_view(const client::SyncView& view) {
  Snapshot s;
  if (view.size() < 5) return s;
  copy_into(view[kIngresses], s.ingresses);
  copy_into(view[kIngressClasses], s.ingress_classes);
  copy_into(view[kServices], s.services);
  copy_into(view[kEndpointSlices], s.endpoint_slices);
  copy_into(view[kSecrets], s.secrets);
  return s;
}

IngressController::IngressController(std::shared_ptr<client::ApiClient> api,
                                     RouteTableHolder& holder, ControllerOptions options)
    : api_(std::move(api)), holder_(holder), opt_(std::move(options)) {
  if (!opt_.status_addresses.empty()) {
    std::string error;
    auto lb = load_balancer_ingress(opt_.status_addresses, &error);
    if (!lb) throw std::runtime_error("status address: " + error);
    lb_ingress_ = *lb;
  }
}

IngressController::~IngressController() {
  stop();
}

void IngressController::start() {
  client::InformerOptions io;
  // An ingress that lost the API server keeps serving its last table; it should pick changes
  // up again soon after the server is back.
  io.max_backoff = std::chrono::milliseconds(5000);
  std::vector<client::SyncSource> sources = {
      {client::resources::ingresses, "", "", "", io},
      {client::resources::ingressclasses, "", "", "", io},
      {client::resources::services, "", "", "", io},
      {client::resources::endpointslices, "", "", "", io},
      // Only TLS Secrets can be certificates; the rest (tokens, credentials) is none of our
      // business and stays out of memory.
      {client::resources::secrets, "", "", "type=kubernetes.io/tls", io},
  };
  sources[0].options.name = "ingresses";
  sources[1].options.name = "ingressclasses";
  sources[2].options.name = "services";
  sources[3].options.name = "endpointslices";
  sources[4].options.name = "secrets";
  client::ObjectSyncOptions so;
  so.name = "ingress";
  so.debounce = opt_.debounce;
  sync_ = std::make_unique<client::ObjectSync>(
      api_, std::move(sources), [this](const client::SyncView& view) { rebuild(view); }, so);
  sync_->start();
}

void IngressController::stop() {
  if (sync_) sync_->stop();
}

bool IngressController::wait_for_first_build(std::chrono::milliseconds timeout) const {
  return sync_ && sync_->wait_for_first_build(timeout);
}

uint64_t IngressController::builds() const {
  return sync_ ? sync_->builds() : 0;
}

void IngressController::rebuild(const client::SyncView& view) {
  auto started = std::chrono::steady_clock::now();
  Snapshot snap = snapshot_from_view(view);
  std::shared_ptr<const RouteTable> table = build_route_table(snap, opt_.build);
  holder_.publish(table);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  started)
                .count();
  spdlog::info(
      "ingress: route table {} published: {} hosts, {} routes, {} Ingresses, built in {} ms",
      holder_.generation(), table->host_count(), table->route_count(),
      table->served_ingresses().size(), ms);
  // Diagnostics are logged when they appear, not on every rebuild.
  std::set<std::string> now;
  for (const Diagnostic& d : table->diagnostics()) {
    std::string line = d.object + ": " + d.message;
    if (!last_diagnostics_.count(line)) spdlog::warn("ingress: {}", line);
    now.insert(std::move(line));
  }
  last_diagnostics_ = std::move(now);
  if (!lb_ingress_.is_null()) update_statuses(view, *table);
}

void IngressController::update_statuses(const client::SyncView& view, const RouteTable& table) {
  std::set<std::string_view> served(table.served_ingresses().begin(),
                                    table.served_ingresses().end());
  Json patch = status_patch(lb_ingress_);
  // Clearing the address from Ingresses we no longer serve (class changed, rules now owned by
  // another controller) is limited to those that show exactly our address, so another
  // controller's status is never touched.
  Json clear = Json::parse(R"({"status":{"loadBalancer":{"ingress":null}}})");
  for (const auto& obj : view[kIngresses]) {
    if (!obj) continue;
    const Json& meta = (*obj)["metadata"];
    std::string ns = meta.value("namespace", "");
    std::string name = meta.value("name", "");
    bool ours = served.count(ns + "/" + name) > 0;
    bool shows_us = status_up_to_date(*obj, lb_ingress_);
    if (ours == shows_us) continue;
    auto r = api_->patch(client::resources::ingresses, ns, name, client::PatchType::merge,
                         ours ? patch : clear, "status");
    if (!r) {
      // The next rebuild (any change, or the informer's resync after a relist) tries again.
      spdlog::warn("ingress: cannot {} status of Ingress {}/{}: {}", ours ? "set" : "clear", ns,
                   name, r.error().to_string());
    }
  }
}

}  // namespace k8c::ingress
