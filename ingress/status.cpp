#include "ingress/status.h"

#include <arpa/inet.h>

#include <algorithm>

namespace k8c::ingress {

namespace {

bool valid_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    std::string_view label =
        name.substr(start, dot == std::string_view::npos ? name.npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      bool ok =
          (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok) return false;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

std::optional<Json> one_entry(std::string_view address, std::string* error) {
  std::string_view host = address;
  bool bracketed = false;
  if (host.starts_with('[')) {
    size_t close = host.find(']');
    std::string_view after = close == host.npos ? "" : host.substr(close + 1);
    if (close == host.npos || !(after.empty() || after.starts_with(':'))) {
      if (error) *error = "address \"" + std::string(address) + "\": unterminated '['";
      return std::nullopt;
    }
    host = host.substr(1, close - 1);
    bracketed = true;
  } else if (std::count(host.begin(), host.end(), ':') == 1) {
    host = host.substr(0, host.find(':'));  // host:port; more colons means a bare IPv6 literal
  }
  std::string h(host);
  in_addr v4;
  in6_addr v6;
  if (!bracketed && inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    if (v4.s_addr == 0) {
      if (error) *error = "address 0.0.0.0 is not reachable; give the node's address";
      return std::nullopt;
    }
    return Json{{"ip", h}};
  }
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_UNSPECIFIED(&v6)) {
      if (error) *error = "address :: is not reachable; give the node's address";
      return std::nullopt;
    }
    return Json{{"ip", h}};
  }
  if (!bracketed && valid_dns_name(h)) {
    for (char& c : h) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return Json{{"hostname", h}};
  }
  if (error) *error = "address \"" + std::string(address) + "\" is neither an IP nor a DNS name";
  return std::nullopt;
}

}  // namespace

std::optional<Json> load_balancer_ingress(std::span<const std::string> addresses,
                                          std::string* error) {
  Json out = Json::array();
  for (const std::string& a : addresses) {
    std::optional<Json> entry = one_entry(a, error);
    if (!entry) return std::nullopt;
    if (std::find(out.begin(), out.end(), *entry) == out.end()) out.push_back(std::move(*entry));
  }
  return out;
}

std::optional<Json> load_balancer_ingress(std::string_view address, std::string* error) {
  std::string a(address);
  return load_balancer_ingress(std::span<const std::string>(&a, 1), error);
}

Json status_patch(const Json& lb_ingress) {
  return Json{{"status", {{"loadBalancer", {{"ingress", lb_ingress}}}}}};
}

bool status_up_to_date(const Json& ingress, const Json& lb_ingress) {
  const Json* current = find_path(ingress, {"status", "loadBalancer", "ingress"});
  if (!current) return lb_ingress.empty();
  return *current == lb_ingress;
}

}  // namespace k8c::ingress
