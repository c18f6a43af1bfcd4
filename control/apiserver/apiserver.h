// The Kubernetes API: discovery, REST verbs, watch, patch, subresources and authentication,
// over a Store with a watch cache in front. It owns no sockets: `handle` is the http::Handler
// that `k8c server` plugs into an http::Server, which keeps this testable in-process.
#pragma once

#include "common/http.h"
#include "control/store/store.h"
#include "control/store/watch_cache.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace k8c::apiserver {

struct User {
  std::string name;
  std::string uid;
  std::vector<std::string> groups;
};

struct Options {
  // Static bearer tokens (token -> user), like kube-apiserver's --token-auth-file.
  std::map<std::string, User> tokens;
  std::string service_cidr = "10.96.0.0/12";
  int node_port_min = 30000;
  int node_port_max = 32767;
  std::string advertise_address = "127.0.0.1:6443";
  std::chrono::seconds bookmark_interval{10};
};

class ApiServer {
 public:
  ApiServer(store::Store& store, Options options);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Creates the namespaces every cluster has (default, kube-system, kube-public, kube-node-lease).
  void bootstrap();
  void handle(http::Request& request, std::shared_ptr<http::Responder> responder);
  http::Handler handler();

  size_t active_watches() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Reads a token file: lines of token,user,uid,"group1,group2".
std::map<std::string, User> load_token_file(const std::string& path);

}  // namespace k8c::apiserver
