#include "control/apiserver/codec.h"

#include "common/base64.h"

namespace k8c::apiserver {

std::string resource_prefix(const api::Kind& kind) {
  std::string p = "/registry/";
  if (!kind.group.empty()) p += kind.group + "/";
  p += kind.plural + "/";
  return p;
}

std::string object_key(const api::Kind& kind, std::string_view ns, std::string_view name) {
  std::string k = resource_prefix(kind);
  if (kind.namespaced) {
    k += ns;
    k += '/';
  }
  k += name;
  return k;
}

std::string list_prefix(const api::Kind& kind, std::string_view ns) {
  std::string k = resource_prefix(kind);
  if (kind.namespaced && !ns.empty()) {
    k += ns;
    k += '/';
  }
  return k;
}

std::string encode_for_store(Json obj) {
  if (auto* meta = obj.is_object() ? &obj["metadata"] : nullptr; meta && meta->is_object())
    meta->erase("resourceVersion");
  return obj.dump();
}

namespace {

// Skips one JSON string starting at s[i] == '"'; returns the index after the closing quote.
size_t skip_string(std::string_view s, size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\')
      ++i;
    else if (s[i] == '"')
      return i + 1;
  }
  return s.size();
}

// Finds the '{' that opens the top-level "metadata" value, scanning only depth-1 keys.
size_t find_metadata_object(std::string_view s) {
  int depth = 0;
  for (size_t i = 0; i < s.size();) {
    char c = s[i];
    if (c == '"') {
      size_t end = skip_string(s, i);
      if (depth == 1 && s.substr(i, end - i) == "\"metadata\"") {
        size_t j = end;
        while (j < s.size() && (s[j] == ' ' || s[j] == ':')) ++j;
        if (j < s.size() && s[j] == '{') return j;
      }
      i = end;
      continue;
    }
    if (c == '{' || c == '[')
      ++depth;
    else if (c == '}' || c == ']')
      --depth;
    ++i;
  }
  return std::string_view::npos;
}

}  // namespace

std::string with_resource_version(std::string_view stored, int64_t revision) {
  std::string field = "\"resourceVersion\":\"" + std::to_string(revision) + "\"";
  size_t brace = find_metadata_object(stored);
  std::string out;
  if (brace == std::string_view::npos) {
    // No metadata object: the stored bytes were written by someone else; rebuild properly.
    Json obj = Json::parse(stored, nullptr, false);
    if (!obj.is_object()) return std::string(stored);
    obj["metadata"]["resourceVersion"] = std::to_string(revision);
    return obj.dump();
  }
  out.reserve(stored.size() + field.size() + 1);
  out.append(stored.substr(0, brace + 1));
  out.append(field);
  size_t next = stored.find_first_not_of(" \n\t", brace + 1);
  if (next != std::string_view::npos && stored[next] != '}') out.push_back(',');
  out.append(stored.substr(brace + 1));
  return out;
}

store::Encoder wire_encoder() {
  return [](const store::KeyValue& kv) { return with_resource_version(kv.value, kv.mod_revision); };
}

std::string partial_object_metadata(std::string_view object) {
  std::string_view meta = json_member(object, "metadata");
  std::string out;
  out.reserve(64 + meta.size());
  out += R"({"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":)";
  out += meta.empty() ? std::string_view("{}") : meta;
  out += '}';
  return out;
}

std::string list_body(std::string_view api_version, std::string_view list_kind,
                      std::string_view resource_version, std::string_view continue_token,
                      const std::vector<std::shared_ptr<const std::string>>& items,
                      int64_t remaining) {
  size_t size = 128 + continue_token.size();
  for (const auto& b : items) size += b->size() + 1;
  std::string out;
  out.reserve(size);
  out += "{\"kind\":\"";
  out += list_kind;
  out += "\",\"apiVersion\":\"";
  out += api_version;
  out += "\",\"metadata\":{\"resourceVersion\":\"";
  out += resource_version;
  out += '"';
  if (!continue_token.empty()) {
    out += ",\"continue\":\"";
    out += continue_token;
    out += '"';
  }
  if (remaining >= 0) out += ",\"remainingItemCount\":" + std::to_string(remaining);
  out += "},\"items\":[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += *items[i];
  }
  out += "]}";
  return out;
}

std::string encode_continue(int64_t revision, std::string_view last_key) {
  Json t = {{"v", "meta.k8s.io/v1"}, {"rv", revision}, {"start", std::string(last_key) + '\0'}};
  return base64_encode(t.dump());
}

bool decode_continue(std::string_view token, int64_t* revision, std::string* start_key) {
  auto raw = base64_decode(token);
  if (!raw) return false;
  Json t = Json::parse(*raw, nullptr, false);
  if (!t.is_object() || !t.contains("rv") || !t["rv"].is_number_integer() || !t.contains("start") ||
      !t["start"].is_string())
    return false;
  *revision = t["rv"].get<int64_t>();
  *start_key = t["start"].get<std::string>();
  return true;
}

}  // namespace k8c::apiserver
