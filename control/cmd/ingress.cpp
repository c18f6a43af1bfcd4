// `k8c ingress`: the L7 HTTP/HTTPS proxy for Ingress objects. The proxy and the controller live in
// ingress/; this file turns flags into their options and reports start-up problems in one line.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "common/http.h"
#include "common/log.h"
#include "common/metrics.h"
#include "control/client/client.h"
#include "control/cmd/commands.h"
#include "ingress/annotations.h"
#include "ingress/controller.h"
#include "ingress/proxy.h"

namespace k8c::cmd {

namespace {

struct IngressFlags {
  std::string kubeconfig;
  std::string listen_http = "0.0.0.0:80";
  std::string listen_https;
  int threads = 1;
  std::string class_name = "k8c";
  std::string metrics;
  std::vector<std::string> status_addresses;
  std::string access_log;  // empty: stdout; "off": none
  std::string body_size = "1m";
  std::string connect_timeout = "5s";
  std::string read_timeout = "60s";
  std::string send_timeout = "60s";
  size_t max_connections = 10000;
  std::string header_timeout = "10s";
  std::string idle_timeout = "60s";
  std::string drain_timeout = "10s";
  bool least_request = false;
  double wait_api = 10;
  std::string log_level = "info";
};

int fail(const std::string& message) {
  return cmd::fail("ingress", message);
}

bool valid_host_port(const std::string& s) {
  std::string host;
  uint16_t port = 0;
  return split_host_port(s, &host, &port);
}

// The address to publish for a listener bound to `listen`, when --status-address is not given:
// its host, unless it is a wildcard (clients cannot connect to 0.0.0.0).
std::string status_from_listen(const std::string& listen) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host.empty() || host == "0.0.0.0" || host == "::") return {};
  return host;
}

int run_ingress(const IngressFlags& f) {
  init_logging(f.log_level);
  if (f.kubeconfig.empty()) return fail("--kubeconfig is required");
  if (f.threads < 1 || f.threads > 256) return fail("--threads must be 1..256");
  if (f.listen_http.empty() && f.listen_https.empty())
    return fail("give --listen-http and/or --listen-https");
  if (!f.listen_http.empty() && !valid_host_port(f.listen_http))
    return fail("--listen-http must be HOST:PORT, got '" + f.listen_http + "'");
  if (!f.listen_https.empty() && !valid_host_port(f.listen_https))
    return fail("--listen-https must be HOST:PORT, got '" + f.listen_https + "'");
  if (!f.metrics.empty() && !valid_host_port(f.metrics))
    return fail("--metrics must be HOST:PORT, got '" + f.metrics + "'");

  ingress::ControllerOptions copts;
  copts.build.class_name = f.class_name;
  std::string error;
  auto body = ingress::parse_body_size(f.body_size, &error);
  if (!body) return fail("--proxy-body-size " + f.body_size + ": " + error);
  copts.build.defaults.proxy_body_size = *body;
  struct TimeoutFlag {
    const char* name;
    const std::string& value;
    std::chrono::milliseconds* out;
  };
  std::chrono::milliseconds header_timeout{}, idle_timeout{}, drain_timeout{};
  for (const TimeoutFlag& t : {
           TimeoutFlag{"--proxy-connect-timeout", f.connect_timeout,
                       &copts.build.defaults.connect_timeout},
           TimeoutFlag{"--proxy-read-timeout", f.read_timeout, &copts.build.defaults.read_timeout},
           TimeoutFlag{"--proxy-send-timeout", f.send_timeout, &copts.build.defaults.send_timeout},
           TimeoutFlag{"--header-timeout", f.header_timeout, &header_timeout},
           TimeoutFlag{"--idle-timeout", f.idle_timeout, &idle_timeout},
           TimeoutFlag{"--drain-timeout", f.drain_timeout, &drain_timeout},
       }) {
    auto v = ingress::parse_timeout(t.value, &error);
    if (!v) return fail(std::string(t.name) + " " + t.value + ": " + error);
    *t.out = *v;
  }
  copts.status_addresses = f.status_addresses;
  if (copts.status_addresses.empty()) {
    for (const std::string& l : {f.listen_http, f.listen_https}) {
      std::string a = l.empty() ? std::string() : status_from_listen(l);
      if (!a.empty()) copts.status_addresses.push_back(a);
    }
  }

  std::FILE* access_log = stdout;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> log_file(nullptr, std::fclose);
  if (f.access_log == "off") {
    access_log = nullptr;
  } else if (!f.access_log.empty() && f.access_log != "-") {
    log_file.reset(std::fopen(f.access_log.c_str(), "a"));
    if (!log_file) return fail("--access-log " + f.access_log + ": " + std::strerror(errno));
    access_log = log_file.get();
  }
  if (access_log) setvbuf(access_log, nullptr, _IOLBF, 1 << 16);

  if (copts.status_addresses.empty()) {
    spdlog::warn(
        "ingress: listening on a wildcard address and no --status-address given: Ingress "
        "status.loadBalancer is left alone");
  }
  auto api = client::ApiClient::from_kubeconfig_file(f.kubeconfig, &error);
  if (!api) return fail("--kubeconfig " + f.kubeconfig + ": " + error);

  // Signals are taken by sigwait below; block them before any thread starts so none of the
  // worker threads receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  ingress::RouteTableHolder holder;
  ingress::ProxyOptions popts;
  popts.listen_http = f.listen_http;
  popts.listen_https = f.listen_https;
  popts.threads = f.threads;
  popts.max_connections = f.max_connections;
  popts.header_timeout = header_timeout;
  popts.idle_timeout = idle_timeout;
  popts.least_request = f.least_request;
  popts.access_log = access_log;
  popts.metrics = &metrics::default_registry();
  ingress::Proxy proxy(holder, popts);
  try {
    proxy.start();
  } catch (const std::exception& e) {
    return fail(e.what());
  }

  std::unique_ptr<http::Server> metrics_server;
  if (!f.metrics.empty()) {
    http::ServerOptions so;
    so.listen = f.metrics;
    so.threads = 1;
    metrics_server = std::make_unique<http::Server>(
        so, [](http::Request& req, std::shared_ptr<http::Responder> r) {
          if (req.path == "/healthz") return r->send({200, {}, "ok\n"});
          if (req.path != "/metrics") return r->send({404, {}, "not found: try /metrics\n"});
          r->send(metrics::serve(req));
        });
    try {
      metrics_server->start();
    } catch (const std::exception& e) {
      return fail("--metrics " + f.metrics + ": " + e.what());
    }
  }

  std::unique_ptr<ingress::IngressController> controller;
  try {
    controller = std::make_unique<ingress::IngressController>(api, holder, copts);
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  controller->start();
  // Requests are answered from the start (503 until the first table, then 404 for what no rule
  // routes); the first table needs every informer synced, so an unreachable API server shows here.
  if (!controller->wait_for_first_build(
          std::chrono::milliseconds(static_cast<int64_t>(f.wait_api * 1000)))) {
    controller->stop();
    return fail("no route table after " + std::to_string(static_cast<int>(f.wait_api)) +
                "s: cannot list Ingresses, Services, EndpointSlices and Secrets from the API "
                "server in " +
                f.kubeconfig + " (see the log above)");
  }

  std::cerr << "k8c ingress: serving";
  if (proxy.http_port())
    std::cerr << " http on " << status_from_listen(f.listen_http) << ":" << proxy.http_port();
  if (proxy.https_port())
    std::cerr << " https on " << status_from_listen(f.listen_https) << ":" << proxy.https_port();
  if (metrics_server) std::cerr << ", metrics on http://" << f.metrics << "/metrics";
  std::cerr << ", class " << f.class_name << std::endl;

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("ingress: signal {}, draining connections (at most {} ms)", sig,
               drain_timeout.count());
  // Requests in flight finish; the route table stays as it is meanwhile.
  if (!proxy.drain(drain_timeout)) {
    spdlog::warn("ingress: {} connections still open after the drain timeout, closing them",
                 proxy.active_connections());
  }
  controller->stop();
  proxy.stop();
  if (metrics_server) metrics_server->stop();
  if (access_log) std::fflush(access_log);
  return 0;
}

Register reg([](CLI::App& app) {
  auto flags = std::make_shared<IngressFlags>();
  auto* cmd = app.add_subcommand("ingress", "Run the L7 HTTP/HTTPS proxy for Ingress objects");
  cmd->add_option("--kubeconfig", flags->kubeconfig, "Kubeconfig of the API server to follow")
      ->required();
  cmd->add_option("--listen-http,--http", flags->listen_http,
                  "HOST:PORT for plain HTTP (empty: none)")
      ->capture_default_str();
  cmd->add_option("--listen-https,--https", flags->listen_https,
                  "HOST:PORT for HTTPS (certificates come from the Ingresses' tls Secrets)");
  cmd->add_option("--threads", flags->threads, "Worker threads, each with its own listener")
      ->capture_default_str();
  cmd->add_option("--class", flags->class_name, "IngressClass name served by this controller")
      ->capture_default_str();
  cmd->add_option("--metrics", flags->metrics, "HOST:PORT to serve Prometheus /metrics on");
  cmd->add_option("--status-address", flags->status_addresses,
                  "Address written to Ingress status.loadBalancer (repeatable; default: the "
                  "listen host unless it is a wildcard)");
  cmd->add_option("--access-log", flags->access_log,
                  "File for JSON access log lines (default: stdout; \"off\": none)");
  cmd->add_option("--proxy-body-size", flags->body_size,
                  "Default request body limit (ingress.k8c.io/proxy-body-size overrides)")
      ->capture_default_str();
  cmd->add_option("--proxy-connect-timeout", flags->connect_timeout,
                  "Default upstream connect timeout")
      ->capture_default_str();
  cmd->add_option("--proxy-read-timeout", flags->read_timeout, "Default upstream read timeout")
      ->capture_default_str();
  cmd->add_option("--proxy-send-timeout", flags->send_timeout, "Default upstream send timeout")
      ->capture_default_str();
  cmd->add_option("--header-timeout", flags->header_timeout,
                  "Time a client has to send a whole request head")
      ->capture_default_str();
  cmd->add_option("--idle-timeout", flags->idle_timeout, "Keep-alive idle timeout")
      ->capture_default_str();
  cmd->add_option("--drain-timeout", flags->drain_timeout,
                  "On SIGTERM/SIGINT, how long requests in flight may take to finish")
      ->capture_default_str();
  cmd->add_option("--max-connections", flags->max_connections, "Client connection cap")
      ->capture_default_str();
  cmd->add_flag("--least-request", flags->least_request,
                "Pick the endpoint with the fewest requests in flight instead of round-robin");
  cmd->add_option("--wait-api", flags->wait_api,
                  "Seconds to wait for the first route table before giving up")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_option("--log-level", flags->log_level, "debug, info, warn or error")
      ->capture_default_str();
  cmd->callback([flags] { run_command("ingress", [&] { return run_ingress(*flags); }); });
});

}  // namespace

}  // namespace k8c::cmd
