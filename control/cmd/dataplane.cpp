// `k8c dataplane`: the DPDK L4 load balancer for this node's Services.
//
// Until the informer sync lands, the data plane runs with an empty service table: no address
// is a VIP, so every frame is "not ours" (kPassToKernel). There is no kernel exception path
// yet either, so those frames are freed and counted as not_ours in the exit summary; nothing
// is forwarded. --kubeconfig and --node-name are accepted and recorded for that sync, and
// --metrics for the metrics server, so scripts written against the contract work today.
#include "control/cmd/commands.h"
#include "dataplane/eal_runtime.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>

namespace k8c::cmd {

namespace {

struct DataplaneFlags {
  std::string kubeconfig;
  std::string node_name;
  std::string eal;
  std::string metrics;
  uint16_t port_id = 0;
  double duration = 0;
};

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free, "set from a signal handler");

void on_signal(int) {
  g_stop.store(true, std::memory_order_relaxed);
}

// HOST:PORT with a numeric port, checked now so that a typo fails at start-up rather than when
// the metrics server arrives.
bool valid_host_port(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size()) return false;
  unsigned long port = 0;
  for (size_t i = colon + 1; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    port = port * 10 + static_cast<unsigned>(s[i] - '0');
    if (port > 65535) return false;
  }
  return true;
}

// DPDK logs to stdout and we report to stderr: flush stdout first so that, on a terminal or a
// shared pipe, our line is the last one printed.
int fail(const std::string& message) {
  std::fflush(stdout);
  std::cout.flush();
  std::cerr << "k8c dataplane: " << message << std::endl;
  return 1;
}

int run_dataplane(const DataplaneFlags& f) {
  if (!f.metrics.empty() && !valid_host_port(f.metrics))
    return fail("--metrics must be HOST:PORT, got '" + f.metrics + "'");
  std::string node = f.node_name;
  if (node.empty()) {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) == 0) node = host;
  }

  dp::RuntimeOptions opts;
  opts.eal_args = f.eal;
  opts.port_id = f.port_id;
  dp::EalRuntime rt;
  std::string error;
  if (!rt.start(opts, &error)) return fail(error);

  struct sigaction sa = {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  std::fflush(stdout);
  std::cout << "k8c dataplane running on port " << rt.port_name() << " with " << rt.queues()
            << " queue(s), node " << node << ", empty service table (no informer yet)";
  if (!f.kubeconfig.empty()) std::cout << ", kubeconfig " << f.kubeconfig;
  if (!f.metrics.empty()) std::cout << ", metrics " << f.metrics << " (not served yet)";
  std::cout << std::endl;

  auto duration_ns = static_cast<uint64_t>(f.duration * 1e9);
  rt.run(g_stop, duration_ns);

  uint64_t rx = 0, fwd = 0, rep = 0, drop = 0, not_ours = 0, tx_failed = 0;
  for (const auto& r : rt.reports()) {
    rx += r.rx;
    fwd += r.forwarded;
    rep += r.replied;
    drop += r.dropped;
    not_ours += r.not_ours;
    tx_failed += r.tx_failed;
  }
  rt.shutdown();
  std::cout << "k8c dataplane stopped" << (g_stop.load() ? " on signal" : "") << ": rx " << rx
            << ", forwarded " << fwd << ", replied " << rep << ", dropped " << drop << ", not ours "
            << not_ours << ", tx failed " << tx_failed << std::endl;
  return 0;
}

Register reg([](CLI::App& app) {
  auto flags = std::make_shared<DataplaneFlags>();
  auto* cmd = app.add_subcommand("dataplane", "Run the DPDK L4 load balancer for Services");
  cmd->add_option("--kubeconfig", flags->kubeconfig,
                  "Kubeconfig of the API server to follow (recorded; informer sync comes next)");
  cmd->add_option("--node-name", flags->node_name, "This node's name (default: the hostname)");
  cmd->add_option("--eal", flags->eal,
                  "DPDK EAL arguments, split like a shell would, e.g. \"-l 0-1 --vdev=net_null0\"");
  cmd->add_option("--metrics", flags->metrics,
                  "HOST:PORT for Prometheus /metrics (recorded; served in a later release)");
  cmd->add_option("--port-id", flags->port_id, "DPDK port to serve")->capture_default_str();
  cmd->add_option("--duration", flags->duration, "Run for SECONDS, then exit (0: until a signal)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e9));
  cmd->callback([flags] {
    try {
      exit_code() = run_dataplane(*flags);
    } catch (const std::exception& e) {
      exit_code() = fail(e.what());
    }
  });
});

}  // namespace

}  // namespace k8c::cmd
