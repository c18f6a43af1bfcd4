#include "ingress/host.h"

namespace k8c::ingress {

std::string_view normalize_host(std::string_view host, HostBuffer& buf) noexcept {
  if (!host.empty() && host.front() == '[') {
    size_t close = host.find(']');
    if (close == std::string_view::npos) return {};
    host = host.substr(0, close + 1);
  } else if (size_t colon = host.find(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.empty() || host.size() > kMaxHostLength) return {};
  char* out = buf.bytes + 1;
  for (size_t i = 0; i < host.size(); ++i) {
    char c = host[i];
    out[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return {out, host.size()};
}

std::string_view wildcard_candidate(std::string_view normalized, HostBuffer& buf) noexcept {
  size_t dot = normalized.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == normalized.size()) return {};
  // The name starts at buf.bytes + 1, so the byte just before the dot always lies inside buf.
  char* star = const_cast<char*>(normalized.data()) + dot - 1;
  if (star < buf.bytes || star >= buf.bytes + sizeof(buf.bytes)) return {};
  *star = '*';
  return {star, normalized.size() - dot + 1};
}

}  // namespace k8c::ingress
