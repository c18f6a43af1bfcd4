// Standard base64 (RFC 4648, padded), as kubeconfig *-data fields, Secret data and continue
// tokens use it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace k8c {

std::string base64_encode(std::string_view data);
// Accepts padded or unpadded input and ignores whitespace; nullopt on invalid input.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace k8c
