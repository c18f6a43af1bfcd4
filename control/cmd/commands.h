#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string_view>
#include <vector>

namespace k8c::cmd {

inline constexpr std::string_view kVersion = "v1.32.0-k8c.0.1.0";

// Each subcommand file adds a registration function; the command's callback stores its exit code.
std::vector<std::function<void(CLI::App&)>>& registry();
int& exit_code();

struct Register {
  explicit Register(std::function<void(CLI::App&)> add) { registry().push_back(std::move(add)); }
};

}  // namespace k8c::cmd
