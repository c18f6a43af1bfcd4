// API server load benchmark: starts a real `k8c server` and measures, in one run,
//   - creates/s and p50/p99 latency for parallel clients creating N Pods,
//   - list latency over those N Pods (one full list, and paged with limit=500),
//   - the delay from a write request to its delivery on 100 concurrent watches,
//   - the server's resident memory idle and at peak under load.
// Usage: apiserver_load K8C_BINARY [--pods N] [--clients C] [--watchers W] [--events E]
#include "common/http.h"
#include "common/json.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

// Boost.Asio 1.74 uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using k8c::Json;

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// User + system CPU seconds the process has used.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; fields >> f; ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) {
      stime = std::stoull(f);
      break;
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

struct Server {
  pid_t pid = -1;
  uint16_t port = 0;
  fs::path dir;
};

Server start_server(const std::string& binary) {
  Server s;
  s.dir = fs::temp_directory_path() / ("k8c-bench-" + std::to_string(getpid()));
  fs::remove_all(s.dir);
  fs::create_directories(s.dir);
  fs::path out = s.dir / "server.out";
  s.pid = fork();
  if (s.pid == 0) {
    FILE* f = std::freopen(out.c_str(), "w", stdout);
    (void)f;
    FILE* e = std::freopen((s.dir / "server.err").c_str(), "w", stderr);
    (void)e;
    execl(binary.c_str(), binary.c_str(), "server", "--data-dir", (s.dir / "data").c_str(),
          "--listen", "127.0.0.1:0", "--log-level", "warn", nullptr);
    _exit(127);
  }
  for (int i = 0; i < 200 && s.port == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream in(out);
    std::string line;
    while (std::getline(in, line)) {
      auto at = line.find("https://127.0.0.1:");
      if (line.rfind("k8c server listening on", 0) == 0 && at != std::string::npos)
        s.port = static_cast<uint16_t>(std::stoi(line.substr(at + 18)));
    }
  }
  if (s.port == 0) throw std::runtime_error("k8c server did not start; see " + s.dir.string());
  return s;
}

k8c::http::ClientOptions client_options(const Server& s) {
  k8c::http::ClientOptions o;
  o.port = s.port;
  o.tls = true;
  o.ca_file = (s.dir / "data/pki/ca.crt").string();
  o.cert_file = (s.dir / "data/pki/admin.crt").string();
  o.key_file = (s.dir / "data/pki/admin.key").string();
  o.timeout = std::chrono::seconds(120);
  return o;
}

// The create phase's clients: `clients` keep-alive TLS connections, each sending one create,
// waiting for its whole response, then sending the next, as that many kubectl-like clients
// would. They share one event loop thread instead of a thread each, so the load generator,
// which shares the machine's cores with the server, spends its CPU on TLS and HTTP rather than
// on waking 32 threads for every response.
class CreateLoad {
 public:
  using tcp = boost::asio::ip::tcp;
  CreateLoad(const Server& s, int clients, int pods, std::string head, std::string tail)
      : ssl_(boost::asio::ssl::context::tls_client),
        port_(s.port),
        pods_(pods),
        body_head_(std::move(head)),
        body_tail_(std::move(tail)),
        conns_(static_cast<size_t>(clients)) {
    SSL_CTX* ctx = ssl_.native_handle();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    ssl_.set_verify_mode(boost::asio::ssl::verify_peer);
    if (SSL_CTX_load_verify_locations(ctx, (s.dir / "data/pki/ca.crt").c_str(), nullptr) != 1 ||
        SSL_CTX_use_certificate_chain_file(ctx, (s.dir / "data/pki/admin.crt").c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, (s.dir / "data/pki/admin.key").c_str(),
                                    SSL_FILETYPE_PEM) != 1)
      throw std::runtime_error("cannot load the client TLS files");
  }

  // Runs every create; returns each request's latency in milliseconds, per connection.
  std::vector<std::vector<double>> run() {
    for (auto& c : conns_) {
      c = std::make_unique<Conn>(io_, ssl_);
      SSL* ssl = c->stream.native_handle();
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1");
      c->stream.next_layer().connect(
          tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port_));
      c->stream.next_layer().set_option(tcp::no_delay(true));
      c->stream.handshake(boost::asio::ssl::stream_base::client);
    }
    for (auto& c : conns_) send_next(*c);
    io_.run();
    std::vector<std::vector<double>> out;
    for (auto& c : conns_) out.push_back(std::move(c->latencies));
    return out;
  }
  int errors() const { return errors_; }

 private:
  struct Conn {
    Conn(boost::asio::io_context& io, boost::asio::ssl::context& ctx) : stream(io, ctx) {}
    boost::asio::ssl::stream<tcp::socket> stream;
    std::string wire;
    std::string in;
    std::array<char, 16 * 1024> buf{};
    Clock::time_point sent;
    std::vector<double> latencies;
  };

  void send_next(Conn& c) {
    int i = next_++;
    if (i >= pods_) return;
    std::string body = body_head_ + "pod-" + std::to_string(i) + body_tail_;
    c.wire.clear();
    c.wire.append("POST /api/v1/namespaces/bench/pods HTTP/1.1\r\nHost: 127.0.0.1:");
    c.wire.append(std::to_string(port_));
    c.wire.append("\r\nContent-Type: application/json\r\nContent-Length: ");
    c.wire.append(std::to_string(body.size()));
    c.wire.append("\r\n\r\n");
    c.wire.append(body);
    c.in.clear();
    c.sent = Clock::now();
    boost::asio::async_write(c.stream, boost::asio::buffer(c.wire),
                             [this, &c](const boost::system::error_code& ec, size_t) {
                               if (ec) return fail(c, ec.message());
                               read(c);
                             });
  }

  void read(Conn& c) {
    c.stream.async_read_some(
        boost::asio::buffer(c.buf), [this, &c](const boost::system::error_code& ec, size_t n) {
          if (ec) return fail(c, ec.message());
          c.in.append(c.buf.data(), n);
          // A response is complete once its head and Content-Length bytes of body are in.
          size_t head_end = c.in.find("\r\n\r\n");
          if (head_end == std::string::npos) return read(c);
          std::string_view head(c.in.data(), head_end + 2);
          size_t cl = 0;
          bool have_length = false;
          for (size_t at = head.find("\r\n"); at != std::string_view::npos;) {
            size_t end = head.find("\r\n", at + 2);
            if (end == std::string_view::npos) break;
            std::string_view line = head.substr(at + 2, end - at - 2);
            if (line.size() > 15 && strncasecmp(line.data(), "content-length:", 15) == 0) {
              cl = std::strtoul(std::string(line.substr(15)).c_str(), nullptr, 10);
              have_length = true;
            }
            at = end;
          }
          if (!have_length) return fail(c, "response without Content-Length");
          if (c.in.size() < head_end + 4 + cl) return read(c);
          if (c.in.size() > head_end + 4 + cl) return fail(c, "bytes after the response");
          c.latencies.push_back(
              std::chrono::duration<double, std::milli>(Clock::now() - c.sent).count());
          // "HTTP/1.1 201 Created"
          if (c.in.size() < 12 || c.in.compare(9, 3, "201") != 0) ++errors_;
          send_next(c);
        });
  }

  void fail(Conn& c, const std::string& why) {
    std::cerr << "create connection failed: " << why << "\n";
    ++errors_;
    boost::system::error_code ignored;
    c.stream.next_layer().close(ignored);
  }

  boost::asio::io_context io_;
  boost::asio::ssl::context ssl_;
  uint16_t port_;
  int pods_;
  std::string body_head_, body_tail_;
  std::vector<std::unique_ptr<Conn>> conns_;
  int next_ = 0;
  int errors_ = 0;
};

const std::vector<k8c::http::Header> kJson = {{"Content-Type", "application/json"}};

std::string pod_body(const std::string& name) {
  Json container = {{"name", "app"},
                    {"image", "busybox:1.36"},
                    {"command", {"sleep", "3600"}},
                    {"ports", Json::array({{{"containerPort", 8080}}})},
                    {"env", Json::array({{{"name", "MODE"}, {"value", "bench"}}})}};
  container["resources"]["requests"] = {{"cpu", "10m"}, {"memory", "16Mi"}};
  Json pod = {{"apiVersion", "v1"}, {"kind", "Pod"}};
  pod["metadata"] = {{"name", name}, {"labels", {{"app", "bench"}, {"tier", "load"}}}};
  pod["spec"]["containers"] = Json::array({container});
  return pod.dump();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: apiserver_load K8C_BINARY [--pods N] [--clients C] [--watchers W] "
                 "[--events E]\n";
    return 2;
  }
  std::string binary = argv[1];
  int pods = 50000, clients = 32, watchers = 100, events = 2000;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string f = argv[i];
    int v = std::atoi(argv[i + 1]);
    if (f == "--pods")
      pods = v;
    else if (f == "--clients")
      clients = v;
    else if (f == "--watchers")
      watchers = v;
    else if (f == "--events")
      events = v;
    else {
      std::cerr << "unknown flag " << f << "\n";
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  Server server = start_server(binary);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  long rss_idle = rss_kib(server.pid);
  std::atomic<long> rss_peak{rss_idle};
  std::atomic<bool> sampling{true};
  std::thread sampler([&] {
    while (sampling) {
      long r = rss_kib(server.pid);
      long cur = rss_peak.load();
      while (r > cur && !rss_peak.compare_exchange_weak(cur, r)) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  auto opts = client_options(server);

  // ---- creates ----
  {
    k8c::http::Client c(opts);
    c.request("POST", "/api/v1/namespaces",
              R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"bench"}})", kJson);
  }
  // The body is built once; each create only splices its name in, so the load generator spends
  // its CPU on the protocol rather than on building JSON.
  const std::string body_template = pod_body("POD-NAME");
  const size_t name_at = body_template.find("POD-NAME");
  CreateLoad load(server, clients, pods, body_template.substr(0, name_at),
                  body_template.substr(name_at + std::strlen("POD-NAME")));
  double cpu0 = cpu_seconds(server.pid);
  double self_cpu0 = cpu_seconds(getpid());
  auto t0 = Clock::now();
  std::vector<std::vector<double>> lat = load.run();
  std::atomic<int> errors{load.errors()};
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  double server_cpu = cpu_seconds(server.pid) - cpu0;
  double client_cpu = cpu_seconds(getpid()) - self_cpu0;
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());

  // ---- lists ----
  std::vector<double> list_full, list_paged;
  size_t listed = 0;
  {
    k8c::http::Client c(opts);
    for (int i = 0; i < 5; ++i) {
      auto s = Clock::now();
      auto r = c.request("GET", "/api/v1/namespaces/bench/pods");
      list_full.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
      if (i == 0) listed = Json::parse(r.body)["items"].size();
    }
    for (int i = 0; i < 3; ++i) {
      auto s = Clock::now();
      std::string cont;
      do {
        auto r =
            c.request("GET", "/api/v1/namespaces/bench/pods?limit=500" +
                                 (cont.empty() ? "" : "&continue=" + k8c::http::url_encode(cont)));
        cont = Json::parse(r.body)["metadata"].value("continue", "");
      } while (!cont.empty());
      list_paged.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
    }
  }

  // ---- watch delivery ----
  std::string rv;
  {
    k8c::http::Client c(opts);
    rv = Json::parse(c.request("GET", "/api/v1/namespaces/bench/configmaps")
                         .body)["metadata"]["resourceVersion"];
  }
  std::mutex delays_mu;
  std::vector<double> delays;
  std::atomic<int> watching{0};
  std::vector<std::unique_ptr<k8c::http::Client>> wclients;
  for (int w = 0; w < watchers; ++w) wclients.push_back(std::make_unique<k8c::http::Client>(opts));
  std::vector<std::thread> wthreads;
  for (int w = 0; w < watchers; ++w)
    wthreads.emplace_back([&, w] {
      std::string buf;
      int seen = 0;
      std::vector<double> mine;
      bool announced = false;
      try {
        wclients[w]->stream(
            "GET", "/api/v1/namespaces/bench/configmaps?watch=true&resourceVersion=" + rv, {},
            [&](std::string_view data) {
              if (!announced) {
                announced = true;
              }
              buf.append(data);
              size_t nl;
              while ((nl = buf.find('\n')) != std::string::npos) {
                Json ev = Json::parse(buf.substr(0, nl), nullptr, false);
                buf.erase(0, nl + 1);
                if (!ev.is_object() || ev["type"] != "ADDED") continue;
                int64_t sent = std::stoll(ev["object"]["data"]["sent"].get<std::string>());
                mine.push_back((now_ns() - sent) / 1e6);
                if (++seen == events) return false;
              }
              return true;
            });
      } catch (const std::exception&) {
      }
      std::lock_guard l(delays_mu);
      delays.insert(delays.end(), mine.begin(), mine.end());
    });
  std::this_thread::sleep_for(std::chrono::seconds(2));  // every watch is open
  {
    k8c::http::Client c(opts);
    for (int i = 0; i < events; ++i) {
      Json cm = {{"apiVersion", "v1"},
                 {"kind", "ConfigMap"},
                 {"metadata", {{"name", "w-" + std::to_string(i)}}},
                 {"data", {{"sent", std::to_string(now_ns())}}}};
      c.request("POST", "/api/v1/namespaces/bench/configmaps", cm.dump(), kJson);
    }
  }
  for (auto& th : wthreads) th.join();
  (void)watching;

  sampling = false;
  sampler.join();
  long rss_after = rss_kib(server.pid);
  kill(server.pid, SIGTERM);
  waitpid(server.pid, nullptr, 0);
  fs::remove_all(server.dir);

  std::printf("\nk8c API server, %d pods, %d parallel clients (TLS, JSON), one run on %u cores\n\n",
              pods, clients, std::thread::hardware_concurrency());
  std::printf("| figure | k8c | reference (not run here) |\n|---|---|---|\n");
  std::printf("| creates/s | %.0f (errors %d) | target >= 10000 |\n", all.size() / secs,
              errors.load());
  std::printf("| server CPU per create | %.0f us (%.0f creates/s per server core) | |\n",
              server_cpu / all.size() * 1e6, all.size() / server_cpu);
  // The load generator shares the same cores: what it spends is CPU the server cannot use.
  std::printf("| load generator CPU per create (same machine) | %.0f us | |\n",
              client_cpu / pods * 1e6);
  std::printf("| create latency p50 / p99 | %.2f ms / %.2f ms | target p99 < 50 ms |\n",
              percentile(all, 0.5), percentile(all, 0.99));
  std::printf("| list %zu pods (full) p50 | %.1f ms | |\n", listed, percentile(list_full, 0.5));
  std::printf("| list %zu pods (limit=500 pages) p50 | %.1f ms | |\n", listed,
              percentile(list_paged, 0.5));
  std::printf(
      "| watch delivery, %d watchers x %d events: p50 / p99 / max | %.2f / %.2f / %.2f ms (%zu "
      "deliveries) | |\n",
      watchers, events, percentile(delays, 0.5), percentile(delays, 0.99), percentile(delays, 1.0),
      delays.size());
  std::printf("| RSS idle | %.1f MiB | kube-apiserver: hundreds of MiB; k3s server: ~500 MiB |\n",
              rss_idle / 1024.0);
  std::printf("| RSS peak under load / after | %.1f / %.1f MiB | |\n", rss_peak.load() / 1024.0,
              rss_after / 1024.0);
  return errors.load() == 0 && delays.size() == static_cast<size_t>(watchers) * events ? 0 : 1;
}
