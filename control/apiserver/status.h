// Errors as meta/v1 Status objects with Kubernetes' reasons and codes.
#pragma once

#include "common/http.h"
#include "common/json.h"
#include "control/api/schema.h"

#include <string>

namespace k8c::apiserver {

struct ApiError {
  int code = 500;
  std::string reason;  // NotFound, AlreadyExists, Conflict, Invalid, BadRequest, ...
  std::string message;
  Json details;  // {name, group, kind, causes: [...]}
};

Json status_json(const ApiError& e);
http::Response status_response(const ApiError& e);
// A Status{status: Success} as Kubernetes returns for some deletes.
Json success_status(const std::string& name, const std::string& group, const std::string& kind);

ApiError bad_request(std::string message);
ApiError not_found(const std::string& group, const std::string& resource, const std::string& name);
ApiError already_exists(const std::string& group, const std::string& resource,
                        const std::string& name);
ApiError conflict(const std::string& group, const std::string& resource, const std::string& name,
                  const std::string& why);
ApiError invalid(const std::string& group, const std::string& kind, const std::string& name,
                 const api::FieldErrors& errs);
ApiError gone(std::string message);
ApiError unauthorized();
ApiError method_not_supported(const std::string& verb, const std::string& resource);
ApiError unsupported_media_type(const std::string& content_type);
ApiError too_large(std::string message);
ApiError internal_error(std::string message);
ApiError unavailable(std::string message);

}  // namespace k8c::apiserver
