#include "control/client/rest.h"

namespace k8c::client {

Json DeleteOptions::to_json() const {
  Json body = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  if (propagation_policy) body["propagationPolicy"] = *propagation_policy;
  if (grace_period_seconds) body["gracePeriodSeconds"] = *grace_period_seconds;
  if (precondition_uid) body["preconditions"]["uid"] = *precondition_uid;
  if (precondition_resource_version) {
    body["preconditions"]["resourceVersion"] = *precondition_resource_version;
  }
  if (dry_run) body["dryRun"] = Json::array({"All"});
  return body;
}

std::string_view content_type(PatchType type) {
  switch (type) {
    case PatchType::merge:
      return "application/merge-patch+json";
    case PatchType::strategic:
      return "application/strategic-merge-patch+json";
    case PatchType::json:
      return "application/json-patch+json";
  }
  return "application/merge-patch+json";
}

std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

std::string resource_path(const Resource& res, std::string_view ns, std::string_view name,
                          std::string_view subresource) {
  std::string path =
      res.group.empty() ? "/api/" + res.version : "/apis/" + res.group + "/" + res.version;
  // Cluster-scoped resources ignore the namespace, so callers can pass one uniformly.
  if (res.namespaced && !ns.empty()) path += "/namespaces/" + percent_encode(ns);
  path += "/" + res.plural;
  if (!name.empty()) {
    path += "/" + percent_encode(name);
    if (!subresource.empty()) path += "/" + percent_encode(subresource);
  }
  return path;
}

std::string list_query(const ListOptions& opts) {
  std::string q;
  auto add = [&q](std::string_view key, std::string_view value) {
    if (!q.empty()) q += '&';
    q += key;
    q += '=';
    q += percent_encode(value);
  };
  if (!opts.label_selector.empty()) add("labelSelector", opts.label_selector);
  if (!opts.field_selector.empty()) add("fieldSelector", opts.field_selector);
  if (opts.limit > 0) add("limit", std::to_string(opts.limit));
  if (!opts.continue_token.empty()) add("continue", opts.continue_token);
  if (!opts.resource_version.empty()) add("resourceVersion", opts.resource_version);
  if (!opts.resource_version_match.empty()) {
    add("resourceVersionMatch", opts.resource_version_match);
  }
  if (opts.watch) add("watch", "true");
  if (opts.allow_watch_bookmarks) add("allowWatchBookmarks", "true");
  if (opts.timeout_seconds) add("timeoutSeconds", std::to_string(*opts.timeout_seconds));
  return q;
}

std::string_view reason_for_code(int http_status) {
  switch (http_status) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 406:
      return "NotAcceptable";
    case 409:
      return "Conflict";
    case 410:
      return "Expired";
    case 413:
      return "RequestEntityTooLarge";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return "";
  }
}

ApiError error_from_status(const Json& status, int fallback_code) {
  ApiError err;
  err.code = fallback_code;
  if (!status.is_object()) return err;
  if (const Json* c = find_path(status, {"code"}); c && c->is_number_integer()) {
    err.code = c->get<int>();
  }
  err.reason = get_string(status, {"reason"});
  err.message = get_string(status, {"message"});
  if (err.reason.empty()) err.reason = std::string(reason_for_code(err.code));
  err.status = status;
  return err;
}

ApiError error_from_response(int http_status, std::string_view body) {
  Json parsed = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object() && get_string(parsed, {"kind"}) == "Status") {
    ApiError err = error_from_status(parsed, http_status);
    // The HTTP status is authoritative for classification; a Status without a code still
    // carries it through the fallback.
    if (err.code == 0) err.code = http_status;
    return err;
  }
  ApiError err;
  err.code = http_status;
  err.reason = std::string(reason_for_code(http_status));
  std::string_view first = body.substr(0, body.find('\n'));
  if (first.size() > 512) first = first.substr(0, 512);
  err.message = first.empty() ? "HTTP " + std::to_string(http_status) : std::string(first);
  return err;
}

std::string object_namespace(const Json& obj) {
  return get_string(obj, {"metadata", "namespace"});
}
std::string object_name(const Json& obj) {
  return get_string(obj, {"metadata", "name"});
}
std::string object_resource_version(const Json& obj) {
  return get_string(obj, {"metadata", "resourceVersion"});
}

std::string object_key(const Json& obj) {
  std::string ns = object_namespace(obj);
  std::string name = object_name(obj);
  return ns.empty() ? name : ns + "/" + name;
}

std::pair<std::string, std::string> split_key(std::string_view key) {
  size_t slash = key.find('/');
  if (slash == std::string_view::npos) return {"", std::string(key)};
  return {std::string(key.substr(0, slash)), std::string(key.substr(slash + 1))};
}

std::optional<EventType> parse_event_type(std::string_view s) {
  if (s == "ADDED") return EventType::added;
  if (s == "MODIFIED") return EventType::modified;
  if (s == "DELETED") return EventType::deleted;
  if (s == "BOOKMARK") return EventType::bookmark;
  if (s == "ERROR") return EventType::error;
  return std::nullopt;
}

std::string_view to_string(EventType type) {
  switch (type) {
    case EventType::added:
      return "ADDED";
    case EventType::modified:
      return "MODIFIED";
    case EventType::deleted:
      return "DELETED";
    case EventType::bookmark:
      return "BOOKMARK";
    case EventType::error:
      return "ERROR";
  }
  return "";
}

bool WatchDecoder::decode_line(std::string_view line,
                               const std::function<bool(WatchEvent&)>& on_event) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
    line.remove_suffix(1);
  }
  while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
  if (line.empty()) return true;  // keep-alive blank lines carry nothing
  Json parsed = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) {
    error_ = "malformed watch event: " + std::string(line.substr(0, 200));
    return false;
  }
  const Json* type = find_path(parsed, {"type"});
  std::optional<EventType> et;
  if (type && type->is_string()) et = parse_event_type(type->get<std::string>());
  if (!et) {
    error_ = "watch event without a known type: " + std::string(line.substr(0, 200));
    return false;
  }
  WatchEvent ev;
  ev.type = *et;
  if (auto it = parsed.find("object"); it != parsed.end()) ev.object = std::move(*it);
  if (!on_event(ev)) stopped_ = true;
  return true;
}

bool WatchDecoder::feed(std::string_view chunk, const std::function<bool(WatchEvent&)>& on_event) {
  if (!error_.empty()) return false;
  if (stopped_) return true;
  // Decode complete lines straight from the chunk when nothing is pending, so the common case
  // (whole events per chunk) copies nothing.
  while (!chunk.empty()) {
    size_t nl = chunk.find('\n');
    if (nl == std::string_view::npos) {
      pending_.append(chunk);
      return true;
    }
    bool ok;
    if (pending_.empty()) {
      ok = decode_line(chunk.substr(0, nl), on_event);
    } else {
      pending_.append(chunk.substr(0, nl));
      std::string line = std::move(pending_);
      pending_.clear();
      ok = decode_line(line, on_event);
    }
    chunk.remove_prefix(nl + 1);
    if (!ok) return false;
    if (stopped_) return true;
  }
  return true;
}

bool WatchDecoder::finish(const std::function<bool(WatchEvent&)>& on_event) {
  if (!error_.empty()) return false;
  if (stopped_) return true;
  // A final event without its newline is still a whole event if it parses.
  std::string line = std::move(pending_);
  pending_.clear();
  if (!decode_line(line, on_event)) {
    error_ = "watch stream ended inside an event";
    return false;
  }
  return true;
}

}  // namespace k8c::client
