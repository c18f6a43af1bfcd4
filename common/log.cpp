#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace k8c {

void init_logging(std::string_view level) {
  // Logs go to stderr, as Kubernetes components' do: stdout carries what a command reports
  // (the server's address, the ingress's JSON access log) and must stay machine-readable.
  static const bool once = [] {
    spdlog::set_default_logger(spdlog::stderr_color_mt("k8c"));
    return true;
  }();
  (void)once;
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  auto lvl = spdlog::level::from_str(std::string(level));
  spdlog::set_level(lvl == spdlog::level::off && level != "off" ? spdlog::level::info : lvl);
}

}  // namespace k8c
