// ApiClient: REST calls on JSON objects against the k8c (or any Kubernetes) API server, and
// the ListWatcher that feeds an Informer from it.
//
// Thread-safety: an ApiClient is safe to share between threads. Ordinary calls borrow an
// http::Client from a small mutex-guarded pool (http::Client itself is single-threaded), so
// concurrent calls run on separate keep-alive connections. Each watch opens its own connection
// for its lifetime. API failures are returned as ApiError values, never thrown; so are transport
// failures (code 0), which callers should treat as retryable.
#pragma once

#include "common/http.h"
#include "control/client/informer.h"
#include "control/client/kubeconfig.h"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

namespace k8c::client {

struct ClientConfig {
  http::ClientOptions http;
  std::string token;        // sent as "Authorization: Bearer ..." when set
  std::string path_prefix;  // from a server URL with a path
  std::string user_agent = "k8c";
  std::string default_namespace = "default";   // for create() of an object without a namespace
  std::shared_ptr<CredentialDir> credentials;  // keeps inline kubeconfig credentials on disk
  size_t max_idle_connections = 4;

  static ClientConfig from_kubeconfig(const Kubeconfig& kc);
};

// Cancels a call in flight from another thread by closing its connection. Sticky: once
// cancelled, calls made with it fail at once. Do not cancel from inside a watch callback (return
// false there instead): cancel() waits until the call has let go of its connection.
class Cancellation {
 public:
  void cancel();
  bool cancelled() const;

 private:
  friend class ApiClient;
  // False when already cancelled; the connection must then not be used.
  bool attach(http::Client* conn);
  void detach();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool cancelled_ = false;
  http::Client* active_ = nullptr;
};

class ApiClient {
 public:
  explicit ApiClient(ClientConfig config);
  explicit ApiClient(const Kubeconfig& kc) : ApiClient(ClientConfig::from_kubeconfig(kc)) {}
  // Loads a kubeconfig file; nullptr with `error` set when it cannot.
  static std::shared_ptr<ApiClient> from_kubeconfig_file(const std::string& path,
                                                         std::string* error);
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;
  ~ApiClient();

  Result<Json> get(const Resource& res, std::string_view ns, std::string_view name,
                   std::string_view subresource = {});
  // A List object. An empty `ns` lists across all namespaces.
  Result<Json> list(const Resource& res, std::string_view ns, const ListOptions& opts = {},
                    Cancellation* cancel = nullptr);
  // The namespace comes from metadata.namespace, else the default namespace. apiVersion and
  // kind are filled in from `res` when absent.
  Result<Json> create(const Resource& res, const Json& obj);
  // POST to a subresource: pods/binding, pods/eviction, serviceaccounts/token, ...
  Result<Json> create_subresource(const Resource& res, std::string_view ns, std::string_view name,
                                  std::string_view subresource, const Json& body);
  // PUT of the whole object, named by its metadata; metadata.resourceVersion makes it a
  // compare-and-swap (409 Conflict when stale).
  Result<Json> update(const Resource& res, const Json& obj);
  Result<Json> update_status(const Resource& res, const Json& obj);
  Result<Json> update_subresource(const Resource& res, const Json& obj,
                                  std::string_view subresource);
  // `patch` is the patch document: an object for merge/strategic, an array for json.
  Result<Json> patch(const Resource& res, std::string_view ns, std::string_view name,
                     PatchType type, const Json& patch, std::string_view subresource = {});
  // Returns what the server returns: the object (still terminating) or a Success Status.
  Result<Json> remove(const Resource& res, std::string_view ns, std::string_view name,
                      const DeleteOptions& opts = {});

  // Streams watch events (opts.watch is implied) to `on_event` until the server ends the stream
  // (ok), on_event returns false (ok), `cancel` fires, or the stream fails (error). A request the
  // server refuses returns its Status as the error (410 when the resourceVersion is too old).
  Result<void> watch(const Resource& res, std::string_view ns, const ListOptions& opts,
                     const WatchCallback& on_event, Cancellation* cancel = nullptr);

  // Any request: `target` is the path and query ("/version", "/api/v1/pods?limit=1"). The body
  // is sent when non-null. A 2xx response's JSON body is returned (an empty body as null).
  Result<Json> request(std::string_view method, const std::string& target, const Json* body,
                       std::string_view content_type = "application/json",
                       Cancellation* cancel = nullptr, std::string_view accept = kAcceptJson);

  static constexpr std::string_view kAcceptJson = "application/json";

  const std::string& default_namespace() const { return config_.default_namespace; }
  const ClientConfig& config() const { return config_; }

 private:
  std::vector<http::Header> headers(std::string_view content_type,
                                    std::string_view accept = kAcceptJson) const;
  std::unique_ptr<http::Client> acquire();
  void release(std::unique_ptr<http::Client> conn);
  std::string namespace_of(const Resource& res, const Json& obj) const;
  Result<Json> put(const Resource& res, const Json& obj, std::string_view subresource);

  ClientConfig config_;
  std::mutex pool_mu_;
  std::vector<std::unique_ptr<http::Client>> idle_;
};

// The ListWatcher of one resource through an ApiClient, optionally limited to a namespace and
// selectors.
class ResourceListWatcher : public ListWatcher {
 public:
  ResourceListWatcher(std::shared_ptr<ApiClient> client, Resource res, std::string ns = {},
                      std::string label_selector = {}, std::string field_selector = {});

  Result<Json> list(const ListOptions& opts) override;
  Result<void> watch(const ListOptions& opts, const WatchCallback& on_event) override;
  void cancel() override { cancel_.cancel(); }

 private:
  ListOptions with_selectors(const ListOptions& opts) const;

  std::shared_ptr<ApiClient> client_;
  Resource res_;
  std::string ns_;
  std::string label_selector_;
  std::string field_selector_;
  Cancellation cancel_;
};

// An Informer over `res` through `client`; `ns` empty for all namespaces.
std::unique_ptr<Informer> make_informer(std::shared_ptr<ApiClient> client, const Resource& res,
                                        std::string ns = {}, std::string label_selector = {},
                                        std::string field_selector = {}, InformerOptions opts = {});

}  // namespace k8c::client
