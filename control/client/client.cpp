#include "control/client/client.h"

#include <algorithm>
#include <exception>

namespace k8c::client {

using namespace std::chrono_literals;

ClientConfig ClientConfig::from_kubeconfig(const Kubeconfig& kc) {
  ClientConfig c;
  c.http = kc.client_options();
  c.token = kc.token;
  c.path_prefix = kc.path_prefix;
  c.default_namespace = kc.ns.empty() ? "default" : kc.ns;
  c.credentials = kc.credentials;
  return c;
}

// ---- Cancellation ----

void Cancellation::cancel() {
  std::unique_lock lock(mu_);
  cancelled_ = true;
  // http::Client::close() only interrupts an established connection; one still connecting when
  // we first close it would carry on. So keep closing until the call lets go of it.
  while (active_) {
    active_->close();
    cv_.wait_for(lock, 20ms);
  }
}

bool Cancellation::cancelled() const {
  std::lock_guard lock(mu_);
  return cancelled_;
}

bool Cancellation::attach(http::Client* conn) {
  std::lock_guard lock(mu_);
  if (cancelled_) return false;
  active_ = conn;
  return true;
}

void Cancellation::detach() {
  std::lock_guard lock(mu_);
  active_ = nullptr;
  cv_.notify_all();
}

namespace {

ApiError cancelled_error() {
  return ApiError{0, "Cancelled", "the request was cancelled", nullptr};
}

ApiError transport_error(const std::exception& e) {
  return ApiError{0, "", e.what(), nullptr};
}

bool is_2xx(int status) {
  return status >= 200 && status < 300;
}

}  // namespace

// ---- ApiClient ----

ApiClient::ApiClient(ClientConfig config) : config_(std::move(config)) {
  if (config_.http.server_name.empty()) config_.http.server_name = config_.http.host;
}

ApiClient::~ApiClient() = default;

std::shared_ptr<ApiClient> ApiClient::from_kubeconfig_file(const std::string& path,
                                                           std::string* error) {
  auto kc = load_kubeconfig(path, error);
  if (!kc) return nullptr;
  return std::make_shared<ApiClient>(*kc);
}

namespace {

// What a metadata-only list or watch asks for. Plain JSON stays acceptable, so a server without
// metadata views still answers (with whole objects, which the caller can slim itself).
std::string_view accept_for(const ListOptions& o) {
  if (!o.metadata_only) return ApiClient::kAcceptJson;
  return o.watch ? "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
                 : "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,"
                   "application/json";
}

}  // namespace

std::vector<http::Header> ApiClient::headers(std::string_view content_type,
                                             std::string_view accept) const {
  std::vector<http::Header> h;
  h.push_back({"Accept", std::string(accept)});
  h.push_back({"User-Agent", config_.user_agent});
  if (!content_type.empty()) h.push_back({"Content-Type", std::string(content_type)});
  if (!config_.token.empty()) h.push_back({"Authorization", "Bearer " + config_.token});
  return h;
}

std::unique_ptr<http::Client> ApiClient::acquire() {
  {
    std::lock_guard lock(pool_mu_);
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      return conn;
    }
  }
  return std::make_unique<http::Client>(config_.http);
}

void ApiClient::release(std::unique_ptr<http::Client> conn) {
  std::lock_guard lock(pool_mu_);
  if (idle_.size() < config_.max_idle_connections) idle_.push_back(std::move(conn));
}

Result<Json> ApiClient::request(std::string_view method, const std::string& target,
                                const Json* body, std::string_view content_type,
                                Cancellation* cancel, std::string_view accept) {
  std::string payload = body ? body->dump() : std::string();
  std::unique_ptr<http::Client> conn;
  http::Response resp;
  try {
    conn = acquire();
    if (cancel && !cancel->attach(conn.get())) return cancelled_error();
    try {
      resp = conn->request(method, config_.path_prefix + target, payload,
                           headers(body ? content_type : std::string_view{}, accept));
    } catch (...) {
      if (cancel) cancel->detach();
      throw;
    }
    if (cancel) cancel->detach();
  } catch (const std::exception& e) {
    // The connection is in an unknown state: drop it rather than pool it.
    if (cancel && cancel->cancelled()) return cancelled_error();
    return transport_error(e);
  }
  // A connection a cancel() may have shut down is not worth keeping.
  if (!cancel || !cancel->cancelled()) release(std::move(conn));
  if (!is_2xx(resp.status)) return error_from_response(resp.status, resp.body);
  if (resp.body.empty()) return Json(nullptr);
  Json parsed = Json::parse(resp.body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return ApiError{resp.status, "",
                    "the server sent a response that is not JSON: " + resp.body.substr(0, 200),
                    nullptr};
  }
  return parsed;
}

Result<Json> ApiClient::get(const Resource& res, std::string_view ns, std::string_view name,
                            std::string_view subresource) {
  return request("GET", resource_path(res, ns, name, subresource), nullptr);
}

Result<Json> ApiClient::list(const Resource& res, std::string_view ns, const ListOptions& opts,
                             Cancellation* cancel) {
  ListOptions o = opts;
  o.watch = false;
  std::string q = list_query(o);
  std::string target = resource_path(res, ns) + (q.empty() ? "" : "?" + q);
  return request("GET", target, nullptr, "application/json", cancel, accept_for(o));
}

std::string ApiClient::namespace_of(const Resource& res, const Json& obj) const {
  if (!res.namespaced) return {};
  std::string ns = object_namespace(obj);
  return ns.empty() ? config_.default_namespace : ns;
}

Result<Json> ApiClient::create(const Resource& res, const Json& obj) {
  Json body = obj;
  if (!body.is_object())
    return ApiError{400, "BadRequest", "create: the object must be a JSON object", nullptr};
  if (!body.contains("apiVersion")) body["apiVersion"] = res.api_version();
  if (!body.contains("kind") && !res.kind.empty()) body["kind"] = res.kind;
  return request("POST", resource_path(res, namespace_of(res, obj)), &body);
}

Result<Json> ApiClient::create_subresource(const Resource& res, std::string_view ns,
                                           std::string_view name, std::string_view subresource,
                                           const Json& body) {
  return request("POST", resource_path(res, ns, name, subresource), &body);
}

Result<Json> ApiClient::put(const Resource& res, const Json& obj, std::string_view subresource) {
  std::string name = object_name(obj);
  if (name.empty()) {
    return ApiError{400, "BadRequest", "update: the object has no metadata.name", nullptr};
  }
  return request("PUT", resource_path(res, namespace_of(res, obj), name, subresource), &obj);
}

Result<Json> ApiClient::update(const Resource& res, const Json& obj) {
  return put(res, obj, {});
}

Result<Json> ApiClient::update_status(const Resource& res, const Json& obj) {
  return put(res, obj, "status");
}

Result<Json> ApiClient::update_subresource(const Resource& res, const Json& obj,
                                           std::string_view subresource) {
  return put(res, obj, subresource);
}

Result<Json> ApiClient::patch(const Resource& res, std::string_view ns, std::string_view name,
                              PatchType type, const Json& patch, std::string_view subresource) {
  return request("PATCH", resource_path(res, ns, name, subresource), &patch, content_type(type));
}

Result<Json> ApiClient::remove(const Resource& res, std::string_view ns, std::string_view name,
                               const DeleteOptions& opts) {
  std::string target = resource_path(res, ns, name);
  if (opts.empty()) return request("DELETE", target, nullptr);
  Json body = opts.to_json();
  return request("DELETE", target, &body);
}

Result<void> ApiClient::watch(const Resource& res, std::string_view ns, const ListOptions& opts,
                              const WatchCallback& on_event, Cancellation* cancel) {
  ListOptions o = opts;
  o.watch = true;
  std::string target = config_.path_prefix + resource_path(res, ns) + "?" + list_query(o);

  // A watch may be quiet for minutes: its reads must outlast the server-side timeout instead of
  // the per-request one. The server ending the stream is what bounds it.
  http::ClientOptions hopts = config_.http;
  auto stream_timeout =
      o.timeout_seconds ? std::chrono::milliseconds(std::chrono::seconds(*o.timeout_seconds + 30))
                        : std::chrono::milliseconds(std::chrono::hours(1));
  hopts.timeout = std::max(hopts.timeout, stream_timeout);

  WatchDecoder decoder;
  std::string raw;  // the first bytes, to read a Status when the server refuses the watch
  constexpr size_t kRawLimit = 64 * 1024;
  http::Response resp;
  try {
    http::Client conn(hopts);
    if (cancel && !cancel->attach(&conn)) return cancelled_error();
    try {
      resp = conn.stream("GET", target, headers({}, accept_for(o)), [&](std::string_view data) {
        if (raw.size() < kRawLimit) raw.append(data.substr(0, kRawLimit - raw.size()));
        if (cancel && cancel->cancelled()) return false;
        return decoder.feed(data, on_event) && !decoder.stopped();
      });
    } catch (...) {
      if (cancel) cancel->detach();
      throw;
    }
    if (cancel) cancel->detach();
  } catch (const std::exception& e) {
    if (cancel && cancel->cancelled()) return cancelled_error();
    return transport_error(e);
  }
  if (!is_2xx(resp.status)) return error_from_response(resp.status, raw);
  if (cancel && cancel->cancelled()) return cancelled_error();
  if (!decoder.error().empty()) return ApiError{0, "", decoder.error(), nullptr};
  if (decoder.stopped()) return {};
  if (!decoder.finish(on_event)) return ApiError{0, "", decoder.error(), nullptr};
  return {};
}

// ---- ResourceListWatcher ----

ResourceListWatcher::ResourceListWatcher(std::shared_ptr<ApiClient> client, Resource res,
                                         std::string ns, std::string label_selector,
                                         std::string field_selector)
    : client_(std::move(client)),
      res_(std::move(res)),
      ns_(std::move(ns)),
      label_selector_(std::move(label_selector)),
      field_selector_(std::move(field_selector)) {}

ListOptions ResourceListWatcher::with_selectors(const ListOptions& opts) const {
  ListOptions o = opts;
  if (o.label_selector.empty()) o.label_selector = label_selector_;
  if (o.field_selector.empty()) o.field_selector = field_selector_;
  return o;
}

Result<Json> ResourceListWatcher::list(const ListOptions& opts) {
  return client_->list(res_, ns_, with_selectors(opts), &cancel_);
}

Result<void> ResourceListWatcher::watch(const ListOptions& opts, const WatchCallback& on_event) {
  return client_->watch(res_, ns_, with_selectors(opts), on_event, &cancel_);
}

std::unique_ptr<Informer> make_informer(std::shared_ptr<ApiClient> client, const Resource& res,
                                        std::string ns, std::string label_selector,
                                        std::string field_selector, InformerOptions opts) {
  if (opts.name.empty()) opts.name = res.plural;
  auto lw = std::make_shared<ResourceListWatcher>(
      std::move(client), res, std::move(ns), std::move(label_selector), std::move(field_selector));
  return std::make_unique<Informer>(std::move(lw), std::move(opts));
}

}  // namespace k8c::client
