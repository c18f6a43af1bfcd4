#include "control/cmd/commands.h"

namespace k8c::cmd {

std::vector<std::function<void(CLI::App&)>>& registry() {
  static std::vector<std::function<void(CLI::App&)>> r;
  return r;
}

int& exit_code() {
  static int code = 0;
  return code;
}

}  // namespace k8c::cmd
