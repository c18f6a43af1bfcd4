#include "control/apiserver/request_info.h"

#include <vector>

namespace k8c::apiserver {

namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) parts.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return parts;
}

}  // namespace

RequestInfo parse_request_info(std::string_view method, std::string_view path, bool watch_param) {
  RequestInfo info;
  info.path = std::string(path);
  auto parts = split_path(path);
  if (parts.empty() || (parts[0] != "api" && parts[0] != "apis")) return info;
  info.api_prefix = std::string(parts[0]);
  size_t i = 1;
  if (info.api_prefix == "apis") {
    if (parts.size() < 3) return info;  // /apis, /apis/group: discovery
    info.group = std::string(parts[1]);
    i = 2;
  } else if (parts.size() < 2) {
    return info;  // /api
  }
  info.version = std::string(parts[i++]);
  if (i >= parts.size()) return info;  // /api/v1: discovery

  info.is_resource_request = true;
  bool legacy_watch = false;
  if (parts[i] == "watch") {  // deprecated /watch/ prefix kept for old clients
    legacy_watch = true;
    ++i;
  }
  // namespaces/{ns}/{resource}... unless the request is about the namespace object itself.
  if (i + 1 < parts.size() && parts[i] == "namespaces" && i + 2 < parts.size()) {
    info.namespace_ = std::string(parts[i + 1]);
    i += 2;
  }
  if (i < parts.size()) info.resource = std::string(parts[i++]);
  if (i < parts.size()) info.name = std::string(parts[i++]);
  if (i < parts.size()) info.subresource = std::string(parts[i++]);
  if (info.resource == "namespaces" && info.name.empty() == false && info.namespace_.empty())
    info.namespace_ = info.name;  // a namespace object lives in itself, as Kubernetes reports

  if (method == "GET" || method == "HEAD") {
    if (legacy_watch || watch_param)
      info.verb = "watch";
    else
      info.verb = info.name.empty() ? "list" : "get";
  } else if (method == "POST") {
    info.verb = "create";
  } else if (method == "PUT") {
    info.verb = "update";
  } else if (method == "PATCH") {
    info.verb = "patch";
  } else if (method == "DELETE") {
    info.verb = info.name.empty() ? "deletecollection" : "delete";
  } else {
    info.verb = std::string(method);
  }
  return info;
}

}  // namespace k8c::apiserver
