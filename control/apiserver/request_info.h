// What a request path means in Kubernetes' REST layout, as apiserver's RequestInfoFactory
// resolves it: /api/v1/namespaces/ns/pods/name/status, /apis/apps/v1/deployments, ...
#pragma once

#include <string>
#include <string_view>

namespace k8c::apiserver {

struct RequestInfo {
  bool is_resource_request = false;
  std::string verb;        // get, list, watch, create, update, patch, delete, deletecollection
  std::string api_prefix;  // "api" or "apis"
  std::string group;
  std::string version;
  std::string namespace_;
  std::string resource;
  std::string name;
  std::string subresource;
  std::string path;  // for non-resource requests
};

// `watch_param` is the ?watch= query value (true/1 turns list into watch).
RequestInfo parse_request_info(std::string_view method, std::string_view path, bool watch_param);

}  // namespace k8c::apiserver
