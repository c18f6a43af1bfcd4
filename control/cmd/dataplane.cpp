// `k8c dataplane`: the DPDK L4 load balancer for this node's Services.
//
// The lcores poll the port (dataplane/eal_runtime); everything else runs on ordinary threads:
//   - ObjectSync follows Services, EndpointSlices and this node's Node through informers and,
//     after each burst of changes, the Controller translates the whole view into a service
//     table and publishes it through RCU. Forwarding never pauses for a rebuild.
//   - the Controller's neighbour thread keeps next-hop MACs current (ARP gleaning, requests).
//   - an HTTP server answers /metrics.
//   - with --kernel-port, a tap owned by the runtime is the kernel's side of the port: the
//     node address goes there, and the kernel gets what is not a Service's (ARP, ICMP, ssh).
//   - the health-check server answers each externalTrafficPolicy Local Service's
//     healthCheckNodePort on the node address, following the same views as the controller,
//     and (--healthz) kube-proxy's /healthz and /livez; all on one I/O thread. Its answers
//     include the data plane's own health: the lcores loop and no change waits too long for
//     its table (dataplane/health_check.h).
// Without --kubeconfig, or while the API server cannot be reached, the data plane runs with the
// table it has (empty at first) and the informers keep retrying.
//
// `k8c dataplane stats --metrics HOST:PORT` reads a running data plane's /metrics and prints a
// short summary.
#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <thread>

#include "common/http.h"
#include "common/log.h"
#include "common/metrics.h"
#include "control/client/client.h"
#include "control/client/object_sync.h"
#include "control/cmd/commands.h"
#include "dataplane/controller.h"
#include "dataplane/eal_runtime.h"
#include "dataplane/health_check.h"
#include "dataplane/kernel_port.h"

namespace k8c::cmd {

namespace {

struct DataplaneFlags {
  std::string kubeconfig;
  std::string node_name;
  std::string eal;
  std::string metrics;
  std::string healthz;  // HOST:PORT for /healthz and /livez; empty: not served
  double health_timeout = 10;
  std::string node_ip;  // IP or IP/PREFIX
  std::string gateway;
  std::string kernel_port;
  std::vector<std::string> neighbours;  // IP=MAC
  std::string log_level = "info";
  uint16_t port_id = 0;
  double duration = 0;
  double drain_timeout = 30;
  uint32_t idle_sleep_us = 0;
  bool idle_yield = false;
};

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free, "set from a signal handler");

void on_signal(int) {
  g_stop.store(true, std::memory_order_relaxed);
}

// HOST:PORT with a host: the data plane's metrics address is also printed for clients to use.
bool split_host_port_with_host(const std::string& s, std::string* host, uint16_t* port) {
  return split_host_port(s, host, port) && !host->empty();
}

bool parse_mac(const std::string& s, dp::Mac* mac) {
  unsigned v[6];
  char tail;
  if (std::sscanf(s.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                  &tail) != 6)
    return false;
  for (int i = 0; i < 6; ++i) (*mac)[i] = static_cast<uint8_t>(v[i]);
  return true;
}

int fail(const std::string& message) {
  return cmd::fail("dataplane", message);
}

int run_dataplane(const DataplaneFlags& f) {
  const auto started = std::chrono::steady_clock::now();
  init_logging(f.log_level);
  std::string metrics_host;
  uint16_t metrics_port = 0;
  if (!f.metrics.empty() && !split_host_port_with_host(f.metrics, &metrics_host, &metrics_port))
    return fail("--metrics must be HOST:PORT, got '" + f.metrics + "'");
  std::string healthz_host;
  uint16_t healthz_port = 0;
  if (!f.healthz.empty() && !split_host_port_with_host(f.healthz, &healthz_host, &healthz_port))
    return fail("--healthz must be HOST:PORT, got '" + f.healthz + "'");
  std::string node = f.node_name;
  if (node.empty()) {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) == 0) node = host;
  }

  dp::ControllerOptions copts;
  copts.translate.node_name = node;
  copts.translate.drain_timeout_ns = static_cast<uint64_t>(f.drain_timeout * 1e9);
  if (!f.node_ip.empty()) {
    std::string ip = f.node_ip;
    auto slash = ip.find('/');
    if (slash != std::string::npos) {
      std::string len = ip.substr(slash + 1);
      ip.resize(slash);
      char* end = nullptr;
      long n = std::strtol(len.c_str(), &end, 10);
      if (len.empty() || *end || n < 1 || n > 32)
        return fail("--node-ip " + f.node_ip + ": the prefix length must be 1..32");
      copts.node_prefix_len = static_cast<unsigned>(n);
    }
    auto parsed = dp::parse_ipv4(ip);
    if (!parsed || *parsed == 0)
      return fail("--node-ip " + f.node_ip + ": not an IPv4 address (IP or IP/PREFIX)");
    copts.translate.node_ip = *parsed;
  }
  if (!f.gateway.empty()) {
    auto parsed = dp::parse_ipv4(f.gateway);
    if (!parsed) return fail("--gateway " + f.gateway + ": not an IPv4 address");
    copts.gateway_ip = *parsed;
  }
  for (const auto& n : f.neighbours) {
    auto eq = n.find('=');
    dp::Mac mac;
    auto ip = eq == std::string::npos ? std::nullopt : dp::parse_ipv4(n.substr(0, eq));
    if (!ip || !parse_mac(n.substr(eq + 1), &mac))
      return fail("--neighbour " + n + ": want IP=MAC, e.g. 10.0.0.5=02:00:00:00:00:05");
    copts.static_neighbours.push_back({dp::hton32(*ip), mac});
  }

  if (!f.kernel_port.empty()) {
    std::string why;
    if (!dp::kernel_port_name_ok(f.kernel_port, &why))
      return fail("--kernel-port " + f.kernel_port + ": " + why);
    // The kernel owns the node address now: ARP and ICMP for it are its to answer.
    copts.own_node_ip = false;
  }

  std::shared_ptr<client::ApiClient> api;
  if (!f.kubeconfig.empty()) {
    std::string err;
    api = client::ApiClient::from_kubeconfig_file(f.kubeconfig, &err);
    if (!api) return fail("--kubeconfig: " + err);
  }

  // The sync starts before the EAL, so that listing the cluster overlaps EAL start-up (what a
  // restart waits for). Views that arrive before the controller exists are held in the gate
  // and applied as soon as it does.
  struct Gate {
    std::mutex mu;
    dp::Controller* controller = nullptr;
    bool pending = false;
  };
  auto gate = std::make_shared<Gate>();
  // The data plane's own health (kube-proxy's healthz state): a view handed over by the sync is
  // a queued update until its table is published; the lcores are watched once they exist.
  dp::ProxyHealthTracker::Options hopts;
  hopts.table_timeout = hopts.lcore_timeout =
      std::chrono::milliseconds(static_cast<int64_t>(f.health_timeout * 1000));
  auto tracker = std::make_shared<dp::ProxyHealthTracker>(hopts);
  auto health = std::make_shared<dp::HealthCheckServer>([tracker] { return tracker->check(); });
  auto apply = [started, health, tracker, node](dp::Controller* c, const client::SyncView& view) {
    bool first = c->builds() == 0;
    bool built = c->rebuild(view.at(0), view.at(1), view.at(2));
    if (built && first)
      spdlog::info("dataplane: first service table from the API server {} ms after start",
                   std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - started)
                       .count());
    // A table that could not be built leaves the change pending: stale once it waits too long.
    if (built) tracker->updated();
    tracker->set_node_eligible(dp::node_eligible(view.at(2), node));
    // Off the lcores, after the table: a health check never says "healthy" for endpoints the
    // data plane does not forward to yet.
    std::vector<std::string> problems;
    health->update(c->node_ip(), dp::health_checks(view.at(0), view.at(1), node, &problems));
    for (const auto& p : problems) spdlog::warn("dataplane health check: {}", p);
  };
  std::unique_ptr<client::ObjectSync> sync;
  if (api) {
    client::InformerOptions io;
    // A data plane that lost the API server must find it again quickly once it is back.
    io.max_backoff = std::chrono::milliseconds(2000);
    std::vector<client::SyncSource> sources = {
        {client::resources::services, "", "", "", io},
        {client::resources::endpointslices, "", "", "", io},
        {client::resources::nodes, "", "", "metadata.name=" + node, io},
    };
    sources[0].options.name = "services";
    sources[1].options.name = "endpointslices";
    sources[2].options.name = "nodes";
    client::ObjectSyncOptions so;
    so.name = "dataplane";
    sync = std::make_unique<client::ObjectSync>(
        api, std::move(sources),
        [gate, apply, tracker](const client::SyncView& view) {
          tracker->queued();
          std::lock_guard lock(gate->mu);
          if (gate->controller)
            apply(gate->controller, view);
          else
            gate->pending = true;
        },
        so);
    sync->start();
  }
  // Every early return below must stop the sync first: its thread uses the gate's controller.
  // The health server goes with it, before the runtime whose lcores it watches.
  auto stop_sync = [&] {
    if (sync) sync->stop();
    health->stop();
    tracker->set_lcores({});
    std::lock_guard lock(gate->mu);
    gate->controller = nullptr;
  };

  dp::RuntimeOptions opts;
  opts.eal_args = f.eal;
  opts.port_id = f.port_id;
  opts.kernel_port = f.kernel_port;
  opts.idle_sleep_us = f.idle_sleep_us;
  opts.idle_yield = f.idle_yield;
  dp::EalRuntime rt;
  std::string error;
  // rte_eal_init pins this thread to the main lcore, and threads inherit their creator's
  // affinity: the control threads (sync, neighbours, metrics) would all share the polling core.
  // They are started with the process's original CPU set instead, and this thread is pinned
  // back before it polls.
  cpu_set_t original, lcore_set;
  bool have_original = sched_getaffinity(0, sizeof original, &original) == 0;
  if (!rt.start(opts, &error)) {
    stop_sync();
    return fail(error);
  }
  bool have_lcore_set =
      have_original && pthread_getaffinity_np(pthread_self(), sizeof lcore_set, &lcore_set) == 0;
  if (rt.has_kernel_port() && copts.translate.node_ip) {
    // Without a prefix the kernel knows no on-link subnet: it reaches everything through the
    // gateway it is given (a route the operator adds).
    unsigned len = copts.node_prefix_len ? copts.node_prefix_len : 32;
    if (!dp::add_interface_address(f.kernel_port, copts.translate.node_ip, len, &error)) {
      stop_sync();
      rt.shutdown();
      return fail("--kernel-port " + f.kernel_port + ": cannot give it the node address: " + error);
    }
  }
  if (have_lcore_set) pthread_setaffinity_np(pthread_self(), sizeof original, &original);

  dp::ControllerHooks hooks;
  hooks.tables = &rt.tables();
  hooks.neighbours = &rt.neighbours();
  hooks.node = rt.node();
  hooks.now_ns = [&rt] { return rt.now_ns(); };
  hooks.poll_event = [&rt](dp::NeighbourEvent* ev) { return rt.poll_neighbour_event(ev); };
  hooks.send = [&rt](const dp::ControlFrame& fr) { return rt.send_frame(fr); };
  hooks.lcores = [&rt] { return rt.live(); };
  hooks.tsc_hz = rt.tsc_hz();
  auto controller = std::make_unique<dp::Controller>(copts, hooks);
  // Whatever way this function ends from here (an exception included), the sync stops before
  // the controller it feeds is destroyed.
  struct OnExit {
    std::function<void()> fn;
    ~OnExit() { fn(); }
  } sync_guard{stop_sync};

  std::unique_ptr<http::Server> metrics;
  if (!f.metrics.empty()) {
    http::ServerOptions so;
    so.listen = f.metrics;
    so.threads = 1;
    metrics = std::make_unique<http::Server>(
        so, [c = controller.get()](http::Request& req, std::shared_ptr<http::Responder> r) {
          if (req.path != "/metrics") return r->send({404, {}, "not found: try /metrics\n"});
          if (req.method != "GET" && req.method != "HEAD")
            return r->send({405, {{"Allow", "GET, HEAD"}}, ""});
          r->send({200, {{"Content-Type", k8c::metrics::kContentType}}, c->render_metrics()});
        });
    try {
      metrics->start();
    } catch (const std::exception& e) {
      stop_sync();
      controller.reset();
      rt.shutdown();
      return fail("--metrics " + f.metrics + ": " + e.what());
    }
  }

  // The lcores' loop counters: valid until rt.shutdown(), which every path reaches only after
  // stop_sync() has stopped the health server and cleared them.
  tracker->set_lcores([&rt] {
    std::vector<uint64_t> iterations;
    for (const auto& l : rt.live()) iterations.push_back(l.iterations ? l.iterations->get() : 0);
    return iterations;
  });
  uint16_t healthz_bound = 0;
  if (!f.healthz.empty()) {
    try {
      healthz_bound = health->serve_healthz(f.healthz);
    } catch (const std::exception& e) {
      stop_sync();
      if (metrics) metrics->stop();
      controller.reset();
      rt.shutdown();
      return fail("--healthz " + f.healthz + ": " + e.what());
    }
  }

  // Without a static table the first ARP requests need the node address, which may come from
  // the Node object: the neighbour thread starts now and picks it up after the first build.
  controller->start();
  {
    std::lock_guard lock(gate->mu);
    gate->controller = controller.get();
    if (gate->pending && sync) apply(controller.get(), sync->view());
  }

  std::thread watchdog;
  std::mutex watchdog_mu;
  std::condition_variable watchdog_cv;
  if (sync) {
    watchdog = std::thread([&] {
      // Says plainly, every 10 s, that the API server has not answered yet; the informers
      // log each failed attempt themselves.
      std::unique_lock lock(watchdog_mu);
      while (!g_stop.load()) {
        if (sync->wait_for_first_build(std::chrono::milliseconds(0))) break;
        auto waited = std::chrono::duration_cast<std::chrono::seconds>(
            std::chrono::steady_clock::now() - started);
        if (waited.count() >= 2)
          spdlog::warn(
              "dataplane: no service table from the API server ({}) after {}s; forwarding with "
              "the current (empty) table and retrying",
              f.kubeconfig, waited.count());
        watchdog_cv.wait_for(lock, std::chrono::seconds(waited.count() >= 2 ? 10 : 2),
                             [] { return g_stop.load(); });
      }
    });
  }

  if (have_lcore_set) pthread_setaffinity_np(pthread_self(), sizeof lcore_set, &lcore_set);

  struct sigaction sa = {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  std::fflush(stdout);
  std::cout << "k8c dataplane running on port " << rt.port_name() << " with " << rt.queues()
            << " queue(s), node " << node;
  if (copts.translate.node_ip) std::cout << " (" << f.node_ip << ")";
  if (api)
    std::cout << ", following " << f.kubeconfig;
  else
    std::cout << ", no --kubeconfig: empty service table";
  if (metrics)
    std::cout << ", metrics on http://" << metrics_host << ":" << metrics->port() << "/metrics";
  if (healthz_bound)
    std::cout << ", healthz on http://" << healthz_host << ":" << healthz_bound << "/healthz";
  std::cout << std::endl;

  auto duration_ns = static_cast<uint64_t>(f.duration * 1e9);
  rt.run(g_stop, duration_ns);
  g_stop.store(true);
  watchdog_cv.notify_all();

  if (watchdog.joinable()) watchdog.join();
  stop_sync();
  health->stop();
  if (metrics) metrics->stop();
  controller.reset();

  uint64_t rx = 0, fwd = 0, rep = 0, drop = 0, not_ours = 0, tx_failed = 0, to_kernel = 0,
           from_kernel = 0;
  for (const auto& r : rt.reports()) {
    to_kernel += r.to_kernel;
    from_kernel += r.from_kernel;
    if (rt.reports().size() > 1)
      std::cout << "lcore " << r.lcore_id << " queue " << r.queue << ": rx " << r.rx
                << ", forwarded " << r.forwarded << ", steered to other lcores " << r.steered
                << ", iterations " << r.iterations << std::endl;
    if (f.idle_sleep_us || f.idle_yield)
      std::cout << "lcore " << r.lcore_id << ": " << r.idle_sleeps << " idle "
                << (f.idle_sleep_us ? "sleeps of " + std::to_string(f.idle_sleep_us) + " us"
                                    : std::string("yields"))
                << " in " << r.iterations << " iterations" << std::endl;
    rx += r.rx;
    fwd += r.forwarded;
    rep += r.replied;
    drop += r.dropped;
    not_ours += r.not_ours;
    tx_failed += r.tx_failed;
  }
  rt.shutdown();
  std::cout << "k8c dataplane stopped" << (g_stop.load() && duration_ns == 0 ? " on signal" : "")
            << ": rx " << rx << ", forwarded " << fwd << ", replied " << rep << ", dropped " << drop
            << ", not ours " << not_ours << ", tx failed " << tx_failed;
  if (!f.kernel_port.empty())
    std::cout << ", to kernel " << to_kernel << ", from kernel " << from_kernel;
  std::cout << std::endl;
  return 0;
}

// `k8c dataplane stats`: a quick look at a running data plane through its /metrics.
int run_stats(const std::string& target) {
  std::string host;
  uint16_t port = 0;
  if (!split_host_port_with_host(target, &host, &port))
    return fail("stats: --metrics must be HOST:PORT, got '" + target + "'");
  http::ClientOptions co;
  co.host = host;
  co.port = port;
  co.timeout = std::chrono::milliseconds(5000);
  http::Response resp;
  try {
    http::Client c(co);
    resp = c.request("GET", "/metrics");
  } catch (const std::exception& e) {
    return fail("stats: cannot reach http://" + target + "/metrics: " + e.what());
  }
  if (resp.status != 200)
    return fail("stats: http://" + target + "/metrics answered " + std::to_string(resp.status));

  // name -> [(labels, value)]
  std::map<std::string, std::vector<std::pair<std::string, double>>> m;
  size_t pos = 0;
  const std::string& b = resp.body;
  while (pos < b.size()) {
    size_t eol = b.find('\n', pos);
    if (eol == std::string::npos) eol = b.size();
    std::string line = b.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.empty() || line[0] == '#') continue;
    size_t sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    std::string series = line.substr(0, sp);
    double v = std::strtod(line.c_str() + sp + 1, nullptr);
    size_t brace = series.find('{');
    std::string name = series.substr(0, brace);
    std::string labels = brace == std::string::npos ? "" : series.substr(brace);
    m[name].push_back({labels, v});
  }
  auto total = [&](const std::string& name) {
    double t = 0;
    for (const auto& [l, v] : m[name]) t += v;
    return t;
  };
  auto label = [](const std::string& labels, const std::string& key) {
    std::string k = key + "=\"";
    size_t at = labels.find(k);
    if (at == std::string::npos) return std::string();
    size_t end = labels.find('"', at + k.size());
    return labels.substr(at + k.size(), end - at - k.size());
  };
  std::printf(
      "services %.0f, backends %.0f, neighbours %.0f, tables built %.0f, sync problems %.0f\n",
      total("k8c_dataplane_services"), total("k8c_dataplane_backends"),
      total("k8c_dataplane_neighbours"), total("k8c_dataplane_table_builds_total"),
      total("k8c_dataplane_sync_problems"));
  std::printf(
      "rx %.0f, forwarded %.0f, replied %.0f, not ours %.0f, new flows %.0f, active flows %.0f\n",
      total("k8c_dataplane_rx_packets_total"), total("k8c_dataplane_forwarded_packets_total"),
      total("k8c_dataplane_replied_packets_total"), total("k8c_dataplane_not_ours_packets_total"),
      total("k8c_dataplane_new_flows_total"), total("k8c_dataplane_active_flows"));
  for (const auto& [l, v] : m["k8c_dataplane_lcore_utilisation"])
    std::printf("lcore %s: %.1f%% busy\n", label(l, "lcore").c_str(), v * 100);
  std::string drops;
  for (const auto& [l, v] : m["k8c_dataplane_drops_total"])
    if (v > 0) drops += " " + label(l, "reason") + "=" + std::to_string(uint64_t(v));
  std::printf("drops:%s\n", drops.empty() ? " none" : drops.c_str());
  std::map<std::string, double> flows, packets;
  for (const auto& [l, v] : m["k8c_dataplane_service_flows_total"]) flows[label(l, "service")] = v;
  for (const auto& [l, v] : m["k8c_dataplane_service_packets_total"])
    packets[label(l, "service")] = v;
  for (const auto& [svc, fl] : flows) {
    std::printf("service %s: %.0f flows, %.0f packets\n", svc.c_str(), fl, packets[svc]);
    for (const auto& [l, v] : m["k8c_dataplane_backend_flows_total"])
      if (label(l, "service") == svc)
        std::printf("  backend %s: %.0f flows\n", label(l, "backend").c_str(), v);
  }
  return 0;
}

Register reg([](CLI::App& app) {
  auto flags = std::make_shared<DataplaneFlags>();
  auto* cmd = app.add_subcommand("dataplane", "Run the DPDK L4 load balancer for Services");
  cmd->add_option("--kubeconfig", flags->kubeconfig,
                  "Kubeconfig of the API server whose Services to follow (none: empty table)");
  cmd->add_option("--node-name", flags->node_name, "This node's name (default: the hostname)");
  cmd->add_option("--eal", flags->eal,
                  "DPDK EAL arguments, split like a shell would, e.g. \"-l 0-1 --vdev=net_null0\"");
  cmd->add_option("--metrics", flags->metrics, "HOST:PORT to serve Prometheus /metrics on");
  cmd->add_option("--healthz", flags->healthz,
                  "HOST:PORT to serve kube-proxy's /healthz and /livez on (kube-proxy's is "
                  "0.0.0.0:10256); off by default");
  cmd->add_option("--health-timeout", flags->health_timeout,
                  "Seconds after which the data plane reports itself unhealthy (503 on /healthz "
                  "and every healthCheckNodePort): a cluster change still waiting for its table, "
                  "or a polling lcore that stopped looping")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_option("--port-id", flags->port_id, "DPDK port to serve")->capture_default_str();
  cmd->add_option("--duration", flags->duration, "Run for SECONDS, then exit (0: until a signal)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e9));
  cmd->add_option("--node-ip", flags->node_ip,
                  "This node's address on the port, IP or IP/PREFIX (default: the Node's "
                  "InternalIP). The prefix says which addresses are on-link and resolved by ARP");
  cmd->add_option("--gateway", flags->gateway,
                  "Next hop (resolved by ARP) for addresses off the --node-ip subnet");
  cmd->add_option("--neighbour,--neighbor", flags->neighbours,
                  "Static next hop IP=MAC (repeatable); wins over what ARP teaches");
  cmd->add_option("--kernel-port", flags->kernel_port,
                  "Kernel exception path: create a tap interface NAME with the port's MAC, put "
                  "--node-ip on it, and hand it what is not a Service's (ARP, ICMP and other "
                  "traffic for the node address); what the kernel sends on it leaves by the port. "
                  "Off by default: the data plane then answers ARP and ping for the node address "
                  "itself and drops the rest");
  cmd->add_option("--idle-sleep-us", flags->idle_sleep_us,
                  "0: the lcores busy-poll. N: an lcore that found nothing to do sleeps N "
                  "microseconds, leaving its CPU to the kernel work that shares it (veth, "
                  "af_packet); costs up to N us of latency after an idle moment")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  cmd->add_flag("--idle-yield", flags->idle_yield,
                "Without --idle-sleep-us: an lcore that found nothing to do calls sched_yield(), "
                "so kernel work runnable on its CPU runs at once");
  cmd->add_option("--drain-timeout", flags->drain_timeout,
                  "Seconds a terminating endpoint keeps its existing flows")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  cmd->add_option("--log-level", flags->log_level, "debug, info, warn or error")
      ->capture_default_str();

  auto stats_target = std::make_shared<std::string>();
  auto* stats = cmd->add_subcommand("stats", "Summarise a running data plane's /metrics");
  stats->add_option("--metrics", *stats_target, "HOST:PORT of the data plane's --metrics")
      ->required();
  stats->callback(
      [stats_target] { run_command("dataplane", [&] { return run_stats(*stats_target); }); });

  cmd->callback([flags, stats] {
    if (stats->parsed()) return;
    run_command("dataplane", [&] { return run_dataplane(*flags); });
  });
});

}  // namespace

}  // namespace k8c::cmd
