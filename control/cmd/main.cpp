// k8c: one binary with subcommands, the way k3s does it. Each subcommand lives in its own file
// and registers itself here.
#include "control/cmd/commands.h"

#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"k8c: Kubernetes rebuilt in C++ for NIC-equipped servers"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(k8c::cmd::kVersion));
  for (const auto& add : k8c::cmd::registry()) add(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return k8c::cmd::exit_code();
}
