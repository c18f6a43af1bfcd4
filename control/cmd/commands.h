#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <string>
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

// Reports a command's failure as one line "k8c COMMAND: message" on stderr and returns 1, its
// exit status. stdout is flushed first (DPDK and the access log write there), so that on a
// terminal or a shared pipe the failure is the last line printed.
int fail(std::string_view command, const std::string& message);

// Runs a command's body from its CLI callback: the body's result is the exit status, and an
// exception escaping it is reported with fail() instead of aborting the process.
void run_command(std::string_view command, const std::function<int()>& body);

// A HOST:PORT flag with a numeric port up to 65535, checked before anything starts. The host
// may be empty (a listener's "any address"); callers that need one check it themselves.
bool split_host_port(const std::string& s, std::string* host, uint16_t* port);

}  // namespace k8c::cmd
