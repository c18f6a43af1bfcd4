#include "control/apiserver/status.h"

namespace k8c::apiserver {

namespace {

std::string qualified(const std::string& group, const std::string& resource) {
  return group.empty() ? resource : resource + "." + group;
}

ApiError make(int code, std::string reason, std::string message, Json details = nullptr) {
  return ApiError{code, std::move(reason), std::move(message), std::move(details)};
}

Json object_details(const std::string& group, const std::string& kind, const std::string& name) {
  Json d = {{"name", name}, {"kind", kind}};
  if (!group.empty()) d["group"] = group;
  return d;
}

}  // namespace

Json status_json(const ApiError& e) {
  Json s = {{"kind", "Status"},    {"apiVersion", "v1"},   {"metadata", Json::object()},
            {"status", "Failure"}, {"message", e.message}, {"reason", e.reason},
            {"code", e.code}};
  if (!e.details.is_null()) s["details"] = e.details;
  return s;
}

http::Response status_response(const ApiError& e) {
  return http::Response{e.code, {{"Content-Type", "application/json"}}, status_json(e).dump()};
}

Json success_status(const std::string& name, const std::string& group, const std::string& kind) {
  return {{"kind", "Status"},
          {"apiVersion", "v1"},
          {"metadata", Json::object()},
          {"status", "Success"},
          {"details", object_details(group, kind, name)}};
}

ApiError bad_request(std::string message) {
  return make(400, "BadRequest", std::move(message));
}

ApiError not_found(const std::string& group, const std::string& resource, const std::string& name) {
  return make(404, "NotFound", qualified(group, resource) + " \"" + name + "\" not found",
              object_details(group, resource, name));
}

ApiError already_exists(const std::string& group, const std::string& resource,
                        const std::string& name) {
  return make(409, "AlreadyExists", qualified(group, resource) + " \"" + name + "\" already exists",
              object_details(group, resource, name));
}

ApiError conflict(const std::string& group, const std::string& resource, const std::string& name,
                  const std::string& why) {
  return make(409, "Conflict",
              "Operation cannot be fulfilled on " + qualified(group, resource) + " \"" + name +
                  "\": " + why,
              object_details(group, resource, name));
}

ApiError invalid(const std::string& group, const std::string& kind, const std::string& name,
                 const api::FieldErrors& errs) {
  Json causes = Json::array();
  std::string summary;
  for (const auto& e : errs) {
    std::string msg = e.message;
    causes.push_back({{"reason", api::cause_reason(e.kind)}, {"message", msg}, {"field", e.field}});
    if (!summary.empty()) summary += ", ";
    summary += e.field + ": " + msg;
  }
  std::string qualified_kind = group.empty() ? kind : kind + "." + group;
  Json details = object_details(group, kind, name);
  details["causes"] = causes;
  std::string message = qualified_kind + " \"" + name + "\" is invalid: ";
  message += errs.size() == 1 ? summary : "[" + summary + "]";
  return make(422, "Invalid", message, details);
}

ApiError gone(std::string message) {
  return make(410, "Expired", std::move(message));
}

ApiError unauthorized() {
  return make(401, "Unauthorized", "Unauthorized");
}

ApiError method_not_supported(const std::string& verb, const std::string& resource) {
  return make(405, "MethodNotAllowed",
              verb + " is not supported on resources of kind \"" + resource + "\"");
}

ApiError unsupported_media_type(const std::string& content_type) {
  return make(415, "UnsupportedMediaType",
              "the body of the request was in an unknown format - accepted media types include: "
              "application/json, application/yaml (got \"" +
                  content_type + "\")");
}

ApiError too_large(std::string message) {
  return make(413, "RequestEntityTooLarge", std::move(message));
}

ApiError internal_error(std::string message) {
  return make(500, "InternalError", "Internal error occurred: " + message);
}

ApiError unavailable(std::string message) {
  return make(503, "ServiceUnavailable", std::move(message));
}

}  // namespace k8c::apiserver
