// Logging goes through spdlog; this header fixes the format once for every binary.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace k8c {

// Sets the global level from "debug", "info", "warn" or "error"; unknown names keep "info".
void init_logging(std::string_view level);

}  // namespace k8c
