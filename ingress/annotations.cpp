#include "ingress/annotations.h"

#include <charconv>
#include <limits>

namespace k8c::ingress {

namespace {

std::optional<uint64_t> parse_digits(std::string_view digits) {
  if (digits.empty()) return std::nullopt;
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return v;
}

std::string printable(std::string_view v) {
  std::string out = "\"";
  for (char c : v) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += '?';  // keep log lines on one line whatever the annotation holds
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string ms_text(std::chrono::milliseconds d) {
  return std::to_string(d.count()) + "ms";
}

}  // namespace

std::optional<uint64_t> parse_body_size(std::string_view value, std::string* error) {
  uint64_t unit = 1;
  std::string_view digits = value;
  if (!value.empty()) {
    switch (value.back()) {
      case 'k':
      case 'K':
        unit = uint64_t{1} << 10;
        break;
      case 'm':
      case 'M':
        unit = uint64_t{1} << 20;
        break;
      case 'g':
      case 'G':
        unit = uint64_t{1} << 30;
        break;
      default:
        break;
    }
    if (unit != 1) digits.remove_suffix(1);
  }
  std::optional<uint64_t> n = parse_digits(digits);
  if (!n || *n > std::numeric_limits<uint64_t>::max() / unit) {
    if (error) *error = "expected a size such as 8m, 512k, 1g or 0 (unlimited)";
    return std::nullopt;
  }
  return *n * unit;
}

std::optional<std::chrono::milliseconds> parse_timeout(std::string_view value, std::string* error) {
  uint64_t scale = 1000;  // a bare number is seconds, as in ingress-nginx
  std::string_view digits = value;
  if (digits.ends_with("ms")) {
    scale = 1;
    digits.remove_suffix(2);
  } else if (digits.ends_with('s')) {
    digits.remove_suffix(1);
  } else if (digits.ends_with('m')) {
    scale = 60'000;
    digits.remove_suffix(1);
  }
  constexpr uint64_t kMaxMs = 24ull * 3600 * 1000;
  std::optional<uint64_t> n = parse_digits(digits);
  if (!n || *n == 0 || *n > kMaxMs / scale) {
    if (error) *error = "expected a duration between 1ms and 24h such as 30, 30s, 500ms or 2m";
    return std::nullopt;
  }
  return std::chrono::milliseconds(*n * scale);
}

std::optional<bool> parse_bool(std::string_view value, std::string* error) {
  if (value == "true") return true;
  if (value == "false") return false;
  if (error) *error = "expected \"true\" or \"false\"";
  return std::nullopt;
}

bool valid_rewrite_target(std::string_view value, std::string* error) {
  const char* why = nullptr;
  if (value.empty() || value.front() != '/') {
    why = "must start with '/'";
  } else if (value.size() > 1024) {
    why = "must be at most 1024 characters";
  } else {
    for (char c : value) {
      auto u = static_cast<unsigned char>(c);
      if (c == '$') {
        why = "'$' capture references are not supported: rule paths are not regular expressions";
        break;
      }
      if (c == '?' || c == '#') {
        why = "must be a path without '?' or '#'";
        break;
      }
      if (u <= 0x20 || u == 0x7f) {
        why = "must not contain spaces or control characters";
        break;
      }
    }
  }
  if (why && error) *error = why;
  return why == nullptr;
}

RouteOptions parse_annotations(const Json* annotations, const RouteDefaults& defaults) {
  RouteOptions out;
  out.proxy_body_size = defaults.proxy_body_size;
  out.connect_timeout = defaults.connect_timeout;
  out.read_timeout = defaults.read_timeout;
  out.send_timeout = defaults.send_timeout;
  if (!annotations || !annotations->is_object()) return out;

  for (const auto& [key, raw] : annotations->items()) {
    std::string_view name = key;
    if (!name.starts_with(kAnnotationPrefix)) continue;
    if (!raw.is_string()) {
      out.errors.push_back(key + ": value must be a string; ignored");
      continue;
    }
    const std::string& value = raw.get_ref<const std::string&>();
    std::string why;
    auto reject = [&](const std::string& kept) {
      out.errors.push_back(key + ": invalid value " + printable(value) + ": " + why + "; using " +
                           kept);
    };
    if (name == kRewriteTarget) {
      if (valid_rewrite_target(value, &why)) {
        out.rewrite_target = value;
      } else {
        reject("no rewrite");
      }
    } else if (name == kSslRedirect) {
      if (auto b = parse_bool(value, &why)) {
        out.ssl_redirect = *b;
      } else {
        reject("the default (redirect when the host has a certificate)");
      }
    } else if (name == kProxyBodySize) {
      if (auto n = parse_body_size(value, &why)) {
        out.proxy_body_size = *n;
      } else {
        reject("the default " + std::to_string(defaults.proxy_body_size) + " bytes");
      }
    } else if (name == kProxyConnectTimeout || name == kProxyReadTimeout ||
               name == kProxySendTimeout) {
      std::chrono::milliseconds* field = name == kProxyConnectTimeout ? &out.connect_timeout
                                         : name == kProxyReadTimeout  ? &out.read_timeout
                                                                      : &out.send_timeout;
      const std::chrono::milliseconds fallback = *field;
      if (auto d = parse_timeout(value, &why)) {
        *field = *d;
      } else {
        reject("the default " + ms_text(fallback));
      }
    } else {
      out.errors.push_back(key + ": unknown annotation; ignored");
    }
  }
  return out;
}

}  // namespace k8c::ingress
