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

}  // namespace k8c::cmd
