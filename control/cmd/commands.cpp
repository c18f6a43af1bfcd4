#include "control/cmd/commands.h"

#include <cstdio>
#include <exception>
#include <iostream>

namespace k8c::cmd {

std::vector<std::function<void(CLI::App&)>>& registry() {
  static std::vector<std::function<void(CLI::App&)>> r;
  return r;
}

int& exit_code() {
  static int code = 0;
  return code;
}

int fail(std::string_view command, const std::string& message) {
  std::fflush(stdout);
  std::cout.flush();
  std::cerr << "k8c " << command << ": " << message << std::endl;
  return 1;
}

void run_command(std::string_view command, const std::function<int()>& body) {
  try {
    exit_code() = body();
  } catch (const std::exception& e) {
    exit_code() = fail(command, e.what());
  }
}

bool split_host_port(const std::string& s, std::string* host, uint16_t* port) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon + 1 == s.size()) return false;
  unsigned long p = 0;
  for (size_t i = colon + 1; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    p = p * 10 + static_cast<unsigned>(s[i] - '0');
    if (p > 65535) return false;
  }
  *host = s.substr(0, colon);
  *port = static_cast<uint16_t>(p);
  return true;
}

}  // namespace k8c::cmd
