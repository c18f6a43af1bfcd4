// The ingress proxy. See proxy.h for the behaviour; this file is organised as:
//   Shared    process-wide state: options, TLS context cache, metric families, connection count
//   Worker    one thread: io_context, listeners, route reader, upstream pools, endpoint health
//   Conn      one client connection, one coroutine: read head, route, forward, stream back
//
// Coroutines (coro.h: our Task and completion token, with frames and operation handlers from a
// per-thread recycling pool, so a warm request allocates nothing) keep each connection's logic
// sequential. Errors come back as error codes (ec_token), never as exceptions. Timeouts: one
// watchdog timer per connection cancels the side whose deadline passed (see arm()).
#include "ingress/proxy.h"

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

// Boost.Asio 1.74 uses std::exchange without including <utility>.
#include <utility>

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cstring>
#include <ctime>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "common/http.h"
#include "common/metrics.h"
#include "ingress/coro.h"
#include "ingress/host.h"
#include "ingress/http_parser.h"
#include "ingress/read_buffer.h"
#include "ingress/tls_context.h"
#include "ingress/tls_stream.h"

namespace k8c::ingress {

using namespace std::string_view_literals;  // appended literals need no strlen

namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;
using coro::ec_token;
using coro::spawn;
using coro::Task;
using TlsStream = TlsSocket;
using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

constexpr size_t kBufferSize = 16 * 1024;
constexpr size_t kMaxRememberedEndpoints = 4096;
// After an error answer, how long and how much we keep reading (and discarding) before closing,
// so the client reads our answer instead of a reset caused by its unread upload.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr size_t kLingerBytes = 64 << 20;
// A pooled connection parked for less than this is reused by a body-less request without first
// checking (one recv(MSG_PEEK) per request) that the upstream has not closed it: upstreams close
// idle keep-alive connections after seconds, and the rare one closed meanwhile is retried on a
// fresh connection like any closed pooled connection. Requests with a body are always checked,
// since a body already sent cannot be sent again.
constexpr auto kPoolTrustTime = std::chrono::milliseconds(1000);

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// A pooled upstream connection and when it was parked.
struct IdleConn {
  tcp::socket socket;
  Clock::time_point since;
};

struct EndpointState {
  std::string key;  // "address:port"
  std::vector<IdleConn> idle;
  uint32_t fails = 0;
  Clock::time_point ejected_until{};
  uint32_t active = 0;
};

bool ejected(const EndpointState& e, Clock::time_point now) {
  return e.ejected_until > now;
}

void append_uint(std::string& out, uint64_t v) {
  // Digits from the end of a buffer, appended at once (push_back per digit checks the capacity
  // every time).
  char buf[24];
  char* end = buf + sizeof buf;
  char* p = end;
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  out.append(p, static_cast<size_t>(end - p));
}

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20 || c >= 0x7f) {
      // Bytes outside printable ASCII are escaped one by one, so a log line is valid JSON even
      // when a client sends invalid UTF-8 in its target.
      static constexpr char kHex[] = "0123456789abcdef";
      out.append("\\u00"sv);
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('"');
}

tcp::endpoint parse_listen(const std::string& listen, uint16_t port_override) {
  auto [host, port_text] = http::split_listen_address(listen);
  error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec)
    throw std::runtime_error("listen address '" + listen + "': '" + host +
                             "' is not an IP address");
  unsigned long port = 0;
  if (port_text.empty() || port_text.size() > 5)
    throw std::runtime_error("listen address '" + listen + "': bad port");
  for (char c : port_text) {
    if (c < '0' || c > '9') throw std::runtime_error("listen address '" + listen + "': bad port");
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  if (port > 65535) throw std::runtime_error("listen address '" + listen + "': port out of range");
  return {addr, port_override ? port_override : static_cast<uint16_t>(port)};
}

// Dot segments ("/a/../b"), raw or percent-encoded, are refused: the route table matches paths
// byte for byte, and a backend that resolves them would serve a path another rule owns.
bool safe_path(std::string_view path) {
  size_t i = 0;
  while (i < path.size()) {
    size_t end = path.find('/', i);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(i, end - i);
    int dots = 0;
    bool other = false;
    for (size_t j = 0; j < seg.size() && !other;) {
      if (seg[j] == '.') {
        ++dots;
        ++j;
      } else if (seg[j] == '%' && j + 3 <= seg.size() && seg[j + 1] == '2' &&
                 (seg[j + 2] == 'e' || seg[j + 2] == 'E')) {
        ++dots;
        j += 3;
      } else {
        other = true;
      }
    }
    if (!other && (dots == 1 || dots == 2)) return false;
    if (path.find('\\', i) < end) return false;
    i = end + 1;
  }
  return true;
}

// Lists of header names matched by length first: most headers have a length no name in the
// list has, and cost one table lookup instead of a comparison per name.
template <size_t N>
struct NameSet {
  std::array<std::string_view, N> names;
  std::array<bool, 32> lengths{};
  constexpr explicit NameSet(std::array<std::string_view, N> n) : names(n) {
    for (std::string_view s : names) lengths[s.size()] = true;
  }
  bool contains(std::string_view name) const {
    if (name.size() >= lengths.size() || !lengths[name.size()]) return false;
    for (std::string_view n : names) {
      if (n.size() == name.size() && iequals(name, n)) return true;
    }
    return false;
  }
};

constexpr NameSet<9> kHopByHop({"connection", "keep-alive", "proxy-connection", "te", "trailer",
                                "transfer-encoding", "upgrade", "proxy-authenticate",
                                "proxy-authorization"});
// Headers we set ourselves on the way up; the client's values are never trusted.
constexpr NameSet<9> kOurs({"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
                            "x-forwarded-port", "x-real-ip", "x-request-id", "forwarded",
                            "content-length", "expect"});

bool is_hop_by_hop(std::string_view name) {
  return kHopByHop.contains(name);
}

bool is_ours(std::string_view name) {
  return kOurs.contains(name);
}

// The tokens of a message's Connection headers that name headers to drop besides the ones
// always dropped (so "Connection: keep-alive" or "Connection: Upgrade" names nothing more),
// collected once per message instead of rescanning the headers for every header forwarded.
struct ConnectionTokens {
  std::array<std::string_view, 8> names;
  size_t count = 0;
  bool overflow = false;  // more than fit: ask named_by_connection for each header instead

  bool empty() const { return count == 0 && !overflow; }
};

bool is_hop_by_hop(std::string_view name);
bool named_by_connection(const HttpParser& msg, std::string_view name);

// Calls fn(token) for each token of every Connection header of `msg`, trimmed, until fn returns
// true; says whether one did.
template <class Fn>
bool any_connection_token(const HttpParser& msg, Fn fn) {
  for (const HeaderRef& h : msg.headers()) {
    if (!iequals(msg.name(h), "connection")) continue;
    std::string_view v = msg.value(h);
    while (!v.empty()) {
      size_t comma = v.find(',');
      std::string_view tok = v.substr(0, comma);
      while (!tok.empty() && (tok.front() == ' ' || tok.front() == '\t')) tok.remove_prefix(1);
      while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t')) tok.remove_suffix(1);
      if (fn(tok)) return true;
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return false;
}

ConnectionTokens connection_tokens(const HttpParser& msg) {
  ConnectionTokens out;
  any_connection_token(msg, [&](std::string_view tok) {
    if (!tok.empty() && !is_hop_by_hop(tok)) {
      if (out.count < out.names.size())
        out.names[out.count++] = tok;
      else
        out.overflow = true;
    }
    return false;
  });
  return out;
}

// True when a Connection header of `msg` (whose tokens are `tokens`) names `name`.
bool connection_names(const HttpParser& msg, const ConnectionTokens& tokens,
                      std::string_view name) {
  if (tokens.overflow) return named_by_connection(msg, name);
  for (size_t i = 0; i < tokens.count; ++i) {
    if (iequals(tokens.names[i], name)) return true;
  }
  return false;
}

// True when `name` is listed in a Connection header of `msg` (those are hop-by-hop too).
bool named_by_connection(const HttpParser& msg, std::string_view name) {
  return any_connection_token(msg, [&](std::string_view tok) { return iequals(tok, name); });
}

}  // namespace

// ---- Shared ----

struct Shared {
  Shared(const RouteTableHolder& h, ProxyOptions o) : holder(h), opt(std::move(o)) {
    if (opt.metrics) {
      requests = &opt.metrics->counter("k8c_ingress_requests_total",
                                       "Requests by route host, route path and status class.",
                                       {"host", "path", "status"});
      upstream_errors = &opt.metrics->counter(
          "k8c_ingress_upstream_errors_total",
          "Failed upstream attempts by reason (refused, timeout, reset, bad_response).",
          {"reason"});
      rejected = &opt.metrics
                      ->counter("k8c_ingress_connections_rejected_total",
                                "Connections closed at accept because of the cap.")
                      .get();
      active =
          &opt.metrics->gauge("k8c_ingress_connections_active", "Open client connections.").get();
    }
  }

  metrics::Counter& series(const Route* r, int status_class) {
    static constexpr const char* kClasses[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    std::string host = r ? (r->host.empty() ? "*" : r->host) : "_no_route";
    std::string path = r ? (r->is_default_backend ? "_default" : r->path) : "_no_route";
    std::lock_guard lock(labels_mu);
    auto key = std::make_pair(host, path);
    if (!labelled.count(key)) {
      // Bounded cardinality: past the cap, new routes share one series.
      if (labelled.size() >= opt.metrics_max_routes) {
        host = path = "_other";
      } else {
        labelled.insert(std::move(key));
      }
    }
    return requests->labels({host, path, kClasses[status_class]});
  }

  void upstream_error(const char* reason) {
    if (upstream_errors) upstream_errors->labels({reason}).inc();
  }

  const RouteTableHolder& holder;
  ProxyOptions opt;
  TlsContextCache tls_cache;
  std::atomic<size_t> connections{0};
  uint16_t http_port = 0;
  uint16_t https_port = 0;
  metrics::Family<metrics::Counter>* requests = nullptr;
  metrics::Family<metrics::Counter>* upstream_errors = nullptr;
  metrics::Counter* rejected = nullptr;
  metrics::Gauge* active = nullptr;
  std::mutex labels_mu;
  std::set<std::pair<std::string, std::string>> labelled;
};

// ---- Worker ----

// What a worker needs from its connections when draining, whatever their stream type.
class ConnBase {
 public:
  virtual ~ConnBase() = default;
  // Closes the connection if it is waiting for a request; one with a request in flight
  // finishes it first (and then closes, since the worker is draining).
  virtual void drain_kick() = 0;
};

struct Worker {
  explicit Worker(Shared& s) : shared(s), reader(s.holder), rng(std::random_device{}()) {}

  // The state of a route table's endpoint, remembered by its address in the table until the
  // next table, so a request does not build and hash an "address:port" key.
  EndpointState& endpoint_state(const Endpoint& e) {
    auto cached = by_endpoint.find(&e);
    if (cached != by_endpoint.end()) return *cached->second;
    EndpointState& st = endpoint_state_by_key(e);
    by_endpoint.emplace(&e, &st);
    return st;
  }

  EndpointState& endpoint_state_by_key(const Endpoint& e) {
    key_scratch.assign(e.address);
    key_scratch.push_back(':');
    append_uint(key_scratch, e.port);
    auto it = endpoints.find(std::string_view(key_scratch));
    if (it == endpoints.end()) {
      it = endpoints.emplace(key_scratch, EndpointState{}).first;
      it->second.key = key_scratch;
    }
    return it->second;
  }

  // Forgets per-table caches when a new table was published: they are keyed by pointers into
  // the old table.
  void sync_generation() {
    uint64_t g = shared.holder.generation();
    if (g != generation) {
      generation = g;
      cursors.clear();
      counters.clear();
      by_endpoint.clear();
      // Endpoints come and go with Pods; forget idle ones once many have been seen, so the map
      // (and idle connections to departed Pods) does not grow forever. Entries with requests in
      // flight are kept: sessions point at them.
      if (endpoints.size() > kMaxRememberedEndpoints) {
        Clock::time_point now = Clock::now();
        std::erase_if(endpoints, [now](const auto& kv) {
          return kv.second.active == 0 && !ejected(kv.second, now);
        });
      }
    }
  }

  void count(const Route* r, int status) {
    if (!shared.requests) return;
    int cls = status / 100 - 1;
    if (cls < 0 || cls > 4) cls = 4;
    auto& slot = counters[r][static_cast<size_t>(cls)];
    if (!slot) slot = &shared.series(r, cls);
    slot->inc();
  }

  void note_failure(EndpointState& e) {
    if (++e.fails >= shared.opt.max_fails) {
      e.fails = 0;
      e.ejected_until = Clock::now() + shared.opt.fail_timeout;
      spdlog::info("ingress: endpoint {} ejected for {} ms after {} consecutive failures", e.key,
                   shared.opt.fail_timeout.count(), shared.opt.max_fails);
    }
  }

  void make_request_id(char (&out)[32]) {
    static constexpr char kHex[] = "0123456789abcdef";
    uint64_t a = rng(), b = rng();
    for (int i = 0; i < 16; ++i) out[i] = kHex[(a >> (i * 4)) & 15];
    for (int i = 0; i < 16; ++i) out[16 + i] = kHex[(b >> (i * 4)) & 15];
  }

  Shared& shared;
  // Declared before io: connections destroyed with the io_context unregister themselves.
  std::unordered_set<ConnBase*> conns;
  bool draining = false;
  // One thread runs it, and only posts (drain, stop) come from other threads, so the reactor's
  // per-socket locks are not needed; the scheduler keeps its lock for those posts.
  asio::io_context io{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  std::optional<tcp::acceptor> http_acceptor;
  std::optional<tcp::acceptor> https_acceptor;
  std::unique_ptr<ssl::context> tls_base;
  RouteTableReader reader;
  std::unordered_map<std::string, EndpointState, StringHash, std::equal_to<>> endpoints;
  std::string key_scratch;
  // Valid for the current generation's table; cleared with it (before idle entries of
  // `endpoints` are forgotten, so it never points at a freed state).
  std::unordered_map<const Endpoint*, EndpointState*> by_endpoint;
  uint64_t generation = ~uint64_t{0};
  std::unordered_map<const Backend*, uint32_t> cursors;
  std::unordered_map<const Route*, std::array<metrics::Counter*, 5>> counters;
  std::mt19937_64 rng;
  std::string log_line;
  std::thread thread;
};

namespace {

int on_servername(SSL* ssl, int* alert, void* arg) {
  auto* w = static_cast<Worker*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  const Certificate* cert = w->reader.current()->certificate(name ? name : "");
  if (!cert) {
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  SslCtxPtr ctx = w->shared.tls_cache.get(*cert);
  if (!ctx) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  // The SSL keeps its own reference to the context, so the cache may replace it meanwhile.
  SSL_set_SSL_CTX(ssl, ctx.get());
  return SSL_TLSEXT_ERR_OK;
}

// The deadline of the one operation in flight on a side (client or upstream).
struct OpTimer {
  Clock::time_point at = Clock::time_point::max();
  bool fired = false;
};

// ---- Conn ----

template <class Stream>
class Conn final : public ConnBase, public std::enable_shared_from_this<Conn<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  Conn(Worker& w, tcp::socket socket)
      : w_(w),
        opt_(w.shared.opt),
        stream_(open_stream(w, std::move(socket))),
        up_(w.io),
        watchdog_(w.io, Clock::time_point::max()),
        req_(HTTP_REQUEST, opt_.max_header_bytes, opt_.max_headers),
        resp_(HTTP_RESPONSE, 64 * 1024, 200),
        cbuf_(new char[kBufferSize]) {
    w_.shared.connections.fetch_add(1, std::memory_order_relaxed);
    if (w_.shared.active) w_.shared.active->inc();
    w_.conns.insert(this);
  }
  ~Conn() override {
    w_.conns.erase(this);
    w_.shared.connections.fetch_sub(1, std::memory_order_relaxed);
    if (w_.shared.active) w_.shared.active->dec();
  }

  void drain_kick() override {
    if (waiting_for_request_) {
      error_code ignored;
      raw_socket().cancel(ignored);
    }
  }

  static Task<void> run(std::shared_ptr<Conn> self) {
    spawn(watchdog(self));
    co_await self->serve();
    self->done_ = true;
    self->watchdog_.cancel();
  }

 private:
  // ---- timers and I/O ----

  static Stream open_stream(Worker& w, tcp::socket socket) {
    if constexpr (kTls) {
      return TlsSocket(std::move(socket), w.tls_base->native_handle());
    } else {
      return socket;
    }
  }

  tcp::socket& raw_socket() {
    if constexpr (kTls) {
      return stream_.socket();
    } else {
      return stream_;
    }
  }

  // One read from the client (plaintext for TLS) and one complete write of a then b (one TLS
  // record when they fit); awaitable, with the error in ec.
  auto stream_read(asio::mutable_buffer buf, error_code& ec) {
    if constexpr (kTls) {
      return stream_.read_some(buf, ec);
    } else {
      return stream_.async_read_some(buf, ec_token(ec));
    }
  }
  auto stream_write(std::string_view a, std::string_view b, error_code& ec) {
    if constexpr (kTls) {
      return stream_.write(a, b, ec);
    } else {
      std::array<asio::const_buffer, 2> bufs{asio::buffer(a.data(), a.size()),
                                             asio::buffer(b.data(), b.size())};
      return asio::async_write(stream_, bufs, ec_token(ec));
    }
  }

  // Timeouts. One timer per connection, kept at the earliest deadline, instead of one timer wait
  // per operation: arming a deadline later than the timer's (the usual case: "now + timeout" for
  // the next read or write) only stores it, so a warm request sets no timer at all. When the
  // timer fires, the watchdog cancels the side whose deadline passed and waits for the next.
  void arm(OpTimer& t, Clock::time_point deadline, bool /*client_side*/) {
    t.at = deadline;
    t.fired = false;
    if (deadline < watchdog_.expiry()) watchdog_.expires_at(deadline);  // wakes the watchdog
  }
  void disarm(OpTimer& t) { t.at = Clock::time_point::max(); }

  static Task<void> watchdog(std::shared_ptr<Conn> self) {
    while (!self->done_) {
      error_code ec;
      co_await self->watchdog_.async_wait(ec_token(ec));
      if (self->done_) break;
      Clock::time_point now = Clock::now();
      error_code ignored;
      if (self->client_timer_.at <= now) {
        self->client_timer_.at = Clock::time_point::max();
        self->client_timer_.fired = true;
        self->raw_socket().cancel(ignored);
      }
      if (self->up_timer_.at <= now) {
        self->up_timer_.at = Clock::time_point::max();
        self->up_timer_.fired = true;
        self->up_.cancel(ignored);
      }
      // Re-armed by arm() meanwhile (the wait was cancelled), or expired: wait for the earliest
      // deadline still set.
      Clock::time_point next = std::min(self->client_timer_.at, self->up_timer_.at);
      if (ec != asio::error::operation_aborted || self->watchdog_.expiry() <= now) {
        self->watchdog_.expires_at(next);
      }
    }
  }

  // Reads more client bytes into cbuf_. False on EOF, error or deadline (client_timer_.fired).
  Task<bool> read_client(Clock::time_point deadline) {
    make_room(cbuf_.get(), kBufferSize, cbeg_, cend_);
    arm(client_timer_, deadline, true);
    error_code ec;
    size_t n = co_await stream_read(asio::buffer(cbuf_.get() + cend_, kBufferSize - cend_), ec);
    disarm(client_timer_);
    if (ec) co_return false;
    cend_ += n;
    co_return true;
  }

  Task<bool> write_client(std::string_view a, std::string_view b = {}) {
    arm(client_timer_, Clock::now() + opt_.client_timeout, true);
    error_code ec;
    size_t n = co_await stream_write(a, b, ec);
    disarm(client_timer_);
    bytes_out_ += n;
    co_return !ec;
  }

  Task<bool> write_up(std::string_view data) {
    arm(up_timer_, Clock::now() + route_->options.send_timeout, false);
    error_code ec;
    co_await asio::async_write(up_, asio::buffer(data.data(), data.size()), ec_token(ec));
    disarm(up_timer_);
    co_return !ec;
  }

  // ---- the connection loop ----

  Task<void> serve() {
    accepted_ = Clock::now();
    error_code ec;
    auto remote = raw_socket().remote_endpoint(ec);
    if (!ec) remote_ip_ = remote.address().to_string();
    if constexpr (kTls) {
      arm(client_timer_, accepted_ + opt_.header_timeout, true);
      co_await stream_.handshake(ec);
      disarm(client_timer_);
      if (ec) co_return;
      const char* sni = SSL_get_servername(stream_.native_handle(), TLSEXT_NAMETYPE_host_name);
      if (sni) sni_ = sni;
    }
    bool first = true;
    for (;;) {
      req_.set_body_sink(nullptr, false);
      req_.set_body_limit(0);
      req_.set_pause_after_headers(true);
      // The first request of a connection must arrive within the header timeout of the
      // accept; later ones may wait the idle timeout for their first byte. From a request's
      // first byte, the whole head must arrive within the header timeout: trickling bytes
      // does not move the deadline.
      Clock::time_point deadline =
          first ? accepted_ + opt_.header_timeout : Clock::now() + opt_.idle_timeout;
      bool head_started = false;
      HttpParser::Event ev = HttpParser::Event::kNeedMore;
      for (;;) {
        if (cbeg_ < cend_) {
          size_t used = 0;
          ev = req_.feed(cbuf_.get() + cbeg_, cend_ - cbeg_, &used);
          cbeg_ += used;
          if (ev != HttpParser::Event::kNeedMore) break;
          if (!head_started && req_.started()) {
            head_started = true;
            if (!first) deadline = Clock::now() + opt_.header_timeout;
          }
        }
        waiting_for_request_ = !head_started && cbeg_ == cend_;
        if (waiting_for_request_ && w_.draining) co_return;
        bool got = co_await read_client(deadline);
        waiting_for_request_ = false;
        if (!got) {
          if (client_timer_.fired && (head_started || first)) {
            if (head_started || req_.started()) {
              begin_request();
              co_await answer(408, true);
              log_request();
            }
          }
          co_return;
        }
      }
      first = false;
      begin_request();
      if (ev == HttpParser::Event::kError) {
        co_await answer(req_.error_status(), true);
        log_request();
        co_await linger_close();
        co_return;
      }
      bool keep = co_await handle_request();
      log_request();
      // An idle keep-alive connection must not pin an old table: with many idle clients and
      // frequent reloads, that would keep many tables alive.
      route_ = nullptr;
      table_.reset();
      if (!keep || w_.draining) {
        co_await linger_close();
        co_return;
      }
    }
  }

  void begin_request() {
    started_at_ = Clock::now();
    status_ = 0;
    route_ = nullptr;
    upstream_key_ = {};
    bytes_in_ = 0;
    bytes_out_ = 0;
    w_.make_request_id(request_id_);
    w_.sync_generation();
    table_ = w_.reader.current();
  }

  bool request_has_body() const {
    return req_.chunked() || (req_.has_content_length() && req_.content_length() > 0);
  }

  // Parses the end of a body-less request so the next pipelined one can start.
  void complete_bodyless() {
    size_t used = 0;
    req_.feed(cbuf_.get() + cbeg_, cend_ - cbeg_, &used);
    cbeg_ += used;
  }

  // Answers a request ourselves. `close` adds Connection: close (the caller then closes).
  Task<bool> answer(int status, bool close, std::string_view location = {}) {
    status_ = status;
    std::string_view reason = http::reason_phrase(status);
    head_.clear();
    head_.append("HTTP/1.1 "sv);
    append_uint(head_, static_cast<uint64_t>(status));
    head_.push_back(' ');
    head_.append(reason);
    head_.append("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "sv);
    append_uint(head_, reason.size() + 5);
    head_.append("\r\n"sv);
    if (!location.empty()) {
      head_.append("Location: "sv);
      head_.append(location);
      head_.append("\r\n"sv);
    }
    if (close) head_.append("Connection: close\r\n"sv);
    head_.append("\r\n"sv);
    append_uint(head_, static_cast<uint64_t>(status));
    head_.push_back(' ');
    head_.append(reason);
    head_.push_back('\n');
    co_return co_await write_client(head_);
  }

  // Answers and says whether the connection may carry another request: only when the request
  // had no body left unread.
  Task<bool> answer_and_continue(int status, std::string_view location = {}) {
    bool keep =
        !request_has_body() && req_.keep_alive() && !req_.upgrade_requested() && !w_.draining;
    if (keep) complete_bodyless();
    bool ok = co_await answer(status, !keep, location);
    co_return keep&& ok;
  }

  Task<void> linger_close() {
    error_code ec;
    tcp::socket& sock = raw_socket();
    sock.shutdown(tcp::socket::shutdown_send, ec);
    Clock::time_point deadline = Clock::now() + kLingerTime;
    size_t drained = 0;
    while (!ec && drained < kLingerBytes) {
      arm(client_timer_, deadline, true);
      size_t n =
          co_await sock.async_read_some(asio::buffer(cbuf_.get(), kBufferSize), ec_token(ec));
      disarm(client_timer_);
      drained += n;
    }
    sock.close(ec);
  }

  // ---- one request ----

  Task<bool> handle_request() {
    int host_count = 0;
    std::string_view host = req_.header("host", &host_count);
    std::string_view target = req_.target();
    auto method = static_cast<llhttp_method_t>(req_.raw().method);
    if (host_count > 1) co_return co_await fail_closed(400);
    if (method == HTTP_CONNECT) co_return co_await fail_closed(405);
    // Absolute form: the authority stands in for a missing Host (RFC 9112 3.2.2 says the
    // target's authority wins; we only trust it when there is no Host header to disagree).
    if (target.starts_with("http://") || target.starts_with("https://")) {
      std::string_view rest = target.substr(target.find("//") + 2);
      size_t slash = rest.find('/');
      std::string_view authority = rest.substr(0, slash);
      if (host.empty()) host = authority;
      target = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
    }
    if (target.empty() || target.front() != '/') co_return co_await fail_closed(400);
    std::string_view path = target.substr(0, target.find('?'));
    std::string_view query =
        path.size() < target.size() ? target.substr(path.size()) : std::string_view{};
    if (!safe_path(path)) co_return co_await fail_closed(400);
    host_ = host;

    route_ = table_->match(host, target);
    if (!route_) co_return co_await answer_and_continue(w_.reader.published() ? 404 : 503);

    if constexpr (kTls) {
      if (!sni_.empty() && !host.empty()) {
        HostBuffer a, b;
        if (normalize_host(host, a) != normalize_host(sni_, b)) {
          co_return co_await answer_and_continue(421);
        }
      }
    } else {
      if (route_->ssl_redirect && w_.shared.https_port && !host.empty()) {
        HostBuffer hb;
        std::string_view name = normalize_host(host, hb);
        if (!name.empty()) {
          scratch_.assign("https://");
          scratch_.append(name);
          if (w_.shared.https_port != 443) {
            scratch_.push_back(':');
            append_uint(scratch_, w_.shared.https_port);
          }
          scratch_.append(target);
          co_return co_await answer_and_continue(308, scratch_);
        }
      }
    }

    uint64_t limit = route_->options.proxy_body_size;
    if (limit && req_.has_content_length() && req_.content_length() > limit) {
      co_return co_await fail_closed(413);
    }
    const Backend& backend = *route_->backend;
    if (backend.endpoints.empty() && backend.external_name.empty()) {
      co_return co_await answer_and_continue(503);
    }

    // Request head for the upstream, built once; reused as is on a retry.
    up_head_.clear();
    up_head_.append(llhttp_method_name(method));
    up_head_.push_back(' ');
    RouteTable::rewrite_path(*route_, path, up_head_);
    up_head_.append(query);
    up_head_.append(" HTTP/1.1\r\n"sv);
    bool upgrade = req_.upgrade_requested() && method == HTTP_GET;
    ConnectionTokens conn_tokens = connection_tokens(req_);  // headers it names are hop-by-hop
    for (const HeaderRef& h : req_.headers()) {
      std::string_view name = req_.name(h);
      if (is_hop_by_hop(name) || is_ours(name) ||
          (!conn_tokens.empty() && connection_names(req_, conn_tokens, name))) {
        continue;
      }
      up_head_.append(name);
      up_head_.append(": "sv);
      up_head_.append(req_.value(h));
      up_head_.append("\r\n"sv);
    }
    if (host.empty() || host_count == 0) {
      up_head_.append("Host: "sv);
      up_head_.append(host.empty() ? std::string_view(backend.service_name) : host);
      up_head_.append("\r\n"sv);
    }
    if (upgrade) {
      up_head_.append("Upgrade: "sv);
      up_head_.append(req_.header("upgrade"));
      up_head_.append("\r\nConnection: Upgrade\r\n"sv);
    }
    up_head_.append("X-Forwarded-For: "sv);
    up_head_.append(remote_ip_);
    up_head_.append("\r\nX-Real-IP: "sv);
    up_head_.append(remote_ip_);
    up_head_.append(kTls ? "\r\nX-Forwarded-Proto: https"sv : "\r\nX-Forwarded-Proto: http"sv);
    if (!host.empty()) {
      up_head_.append("\r\nX-Forwarded-Host: "sv);
      up_head_.append(host);
    }
    up_head_.append("\r\nX-Forwarded-Port: "sv);
    append_uint(up_head_, kTls ? w_.shared.https_port : w_.shared.http_port);
    up_head_.append("\r\nX-Request-ID: "sv);
    up_head_.append(request_id_, sizeof request_id_);
    up_head_.append("\r\n"sv);
    bool has_body = request_has_body();
    if (req_.chunked()) {
      up_head_.append("Transfer-Encoding: chunked\r\n"sv);
    } else if (req_.has_content_length()) {
      up_head_.append("Content-Length: "sv);
      append_uint(up_head_, req_.content_length());
      up_head_.append("\r\n"sv);
    }
    up_head_.append("\r\n"sv);

    // Connect and send the head. A pooled connection the upstream closed meanwhile is detected
    // here or at the first response byte; for body-less requests that case is retried once on a
    // fresh connection.
    bool fresh_only = false;
    for (int round = 0;; ++round) {
      int status = co_await connect_upstream(fresh_only);
      if (status) co_return co_await answer_and_continue(status);
      if (co_await write_up(up_head_)) break;
      drop_upstream(!up_reused_);
      if (!up_reused_ || round > 0) {
        w_.shared.upstream_error("reset");
        co_return co_await answer_and_continue(502);
      }
      fresh_only = true;
    }

    if (has_body) {
      int status = co_await forward_body(limit);
      if (status) {
        drop_upstream(status == 502 || status == 504);
        co_return co_await fail_closed(status);
      }
    } else {
      complete_bodyless();
    }
    co_return co_await relay_response(method, upgrade, has_body);
  }

  // Answers with Connection: close; the caller closes.
  Task<bool> fail_closed(int status) {
    co_await answer(status, true);
    co_return false;
  }

  // Picks an endpoint (round-robin or least-request, skipping ejected ones unless all are) and
  // connects, trying up to connect_attempts distinct endpoints. 0, or the status to answer.
  Task<int> connect_upstream(bool fresh_only) {
    if (!route_->backend->external_name.empty()) co_return co_await connect_external(fresh_only);
    const std::vector<Endpoint>& eps = route_->backend->endpoints;
    size_t n = eps.size();
    Clock::time_point now = Clock::now();
    size_t attempts = std::min<size_t>(n, static_cast<size_t>(std::max(1, opt_.connect_attempts)));
    std::array<size_t, 16> tried{};
    size_t tried_count = 0;
    uint32_t& cursor = w_.cursors[route_->backend];
    int status = 502;
    for (size_t a = 0; a < attempts && a < tried.size(); ++a) {
      // Candidate: next in round-robin order not yet tried and not ejected; when every
      // remaining endpoint is ejected, ejection is ignored rather than failing the request.
      size_t best = n;
      for (int pass = 0; pass < 2 && best == n; ++pass) {
        uint32_t best_active = UINT32_MAX;
        for (size_t k = 0; k < n; ++k) {
          size_t i = (cursor + k) % n;
          bool was_tried = false;
          for (size_t t = 0; t < tried_count; ++t) was_tried |= tried[t] == i;
          if (was_tried) continue;
          EndpointState& st = w_.endpoint_state(eps[i]);
          if (pass == 0 && ejected(st, now)) continue;
          if (!opt_.least_request) {
            best = i;
            break;
          }
          if (st.active < best_active) {
            best_active = st.active;
            best = i;
          }
        }
      }
      if (best == n) break;
      cursor = static_cast<uint32_t>(best + 1);
      tried[tried_count++] = best;
      EndpointState& st = w_.endpoint_state(eps[best]);
      upstream_key_ = st.key;
      if (!fresh_only && take_pooled(st, now)) co_return 0;
      error_code ec;
      auto addr = asio::ip::make_address(eps[best].address, ec);
      if (ec) {
        // FQDN endpoints in EndpointSlices are not dialled (Pods always have IPs); ExternalName
        // Services go through connect_external.
        status = 502;
        w_.shared.upstream_error("bad_address");
        continue;
      }
      status = co_await dial(tcp::endpoint(addr, eps[best].port), st);
      if (status == 0) co_return 0;
      w_.note_failure(st);
    }
    co_return status;
  }

  // One connection attempt to `ep` for endpoint `st`: 0 once connected (the connection is
  // then up_), else the status to answer with, 504 for the connect timeout and 502 otherwise.
  Task<int> dial(const tcp::endpoint& ep, EndpointState& st) {
    error_code ec;
    up_ = tcp::socket(w_.io);
    arm(up_timer_, Clock::now() + route_->options.connect_timeout, false);
    co_await up_.async_connect(ep, ec_token(ec));
    disarm(up_timer_);
    if (!ec) {
      up_.set_option(tcp::no_delay(true), ec);
      up_ep_ = &st;
      up_reused_ = false;
      ++st.active;
      co_return 0;
    }
    bool timeout = up_timer_.fired;
    w_.shared.upstream_error(timeout ? "connect_timeout" : "refused");
    up_.close(ec);
    co_return timeout ? 504 : 502;
  }

  bool take_pooled(EndpointState& st, Clock::time_point now) {
    bool may_trust = !request_has_body();
    while (!st.idle.empty()) {
      IdleConn c = std::move(st.idle.back());
      st.idle.pop_back();
      if ((may_trust && now - c.since < kPoolTrustTime) || alive(c.socket)) {
        up_ = std::move(c.socket);
        up_ep_ = &st;
        up_reused_ = true;
        ++st.active;
        return true;
      }
    }
    return false;
  }

  // ExternalName Services: the name is resolved per new connection (the system resolver
  // caches nothing for us, but pooled connections are reused first) and each address tried in
  // turn. Resolution runs on Asio's resolver thread, so a slow DNS server does not stall the
  // worker; it is bounded by the resolver's own timeouts, not the connect timeout.
  Task<int> connect_external(bool fresh_only) {
    const Backend& b = *route_->backend;
    Endpoint name{b.external_name, static_cast<uint16_t>(b.service_port)};
    EndpointState& st = w_.endpoint_state_by_key(name);  // `name` is not in the table
    upstream_key_ = st.key;
    if (!fresh_only && take_pooled(st, Clock::now())) co_return 0;
    error_code ec;
    tcp::resolver resolver(w_.io);
    char port[8];
    std::snprintf(port, sizeof port, "%u", static_cast<unsigned>(b.service_port));
    auto results = co_await resolver.async_resolve(b.external_name, port, ec_token(ec));
    if (ec || results.empty()) {
      w_.shared.upstream_error("resolve");
      w_.note_failure(st);
      co_return 502;
    }
    int status = 502;
    int attempts = 0;
    for (const auto& r : results) {
      if (attempts++ >= std::max(1, opt_.connect_attempts)) break;
      status = co_await dial(r.endpoint(), st);
      if (status == 0) co_return 0;
    }
    w_.note_failure(st);
    co_return status;
  }

  // A pooled connection is usable when it has no unread bytes and no pending EOF.
  static bool alive(tcp::socket& s) {
    char byte;
    ssize_t r = ::recv(s.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  // Returns the upstream connection to the pool (reusable) or closes it.
  void release_upstream(bool reusable) {
    if (!up_ep_) return;
    --up_ep_->active;
    error_code ec;
    if (reusable && up_ep_->idle.size() < opt_.upstream_idle_per_endpoint) {
      up_ep_->idle.push_back({std::move(up_), Clock::now()});
      up_ = tcp::socket(w_.io);
    } else {
      up_.close(ec);
    }
    up_ep_ = nullptr;
  }
  void drop_upstream(bool failure) {
    if (up_ep_ && failure) w_.note_failure(*up_ep_);
    release_upstream(false);
  }

  // Streams the request body to the upstream. 0, or the status to answer (413, 400, 408, 502,
  // 504).
  Task<int> forward_body(uint64_t limit) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    // We answer 100-continue ourselves (Expect is not forwarded): waiting for the upstream's
    // interim answer would need a second reader while the body is being written.
    if (iequals(req_.header("expect"), "100-continue")) {
      if (!co_await write_client(kContinue)) co_return 400;
    }
    req_.set_body_limit(limit);
    req_.set_body_sink(&up_body_, req_.chunked());
    while (!req_.message_done()) {
      up_body_.clear();
      if (cbeg_ < cend_) {
        size_t used = 0;
        HttpParser::Event ev = req_.feed(cbuf_.get() + cbeg_, cend_ - cbeg_, &used);
        cbeg_ += used;
        if (ev == HttpParser::Event::kError) co_return req_.error_status();
      }
      if (!up_body_.empty() && !co_await write_up(up_body_)) {
        bool timeout = up_timer_.fired;
        w_.shared.upstream_error(timeout ? "send_timeout" : "reset");
        co_return timeout ? 504 : 502;
      }
      if (req_.message_done()) break;
      if (cbeg_ == cend_ && !co_await read_client(Clock::now() + opt_.client_timeout)) {
        co_return 408;
      }
    }
    req_.set_body_sink(nullptr, false);
    co_return 0;
  }

  Task<bool> relay_response(llhttp_method_t method, bool upgrade, bool had_body) {
    // The upstream buffer is only needed once a request is proxied, so idle and slow clients
    // cost one buffer, not two.
    if (!ubuf_) ubuf_.reset(new char[kBufferSize]);
    resp_.reset();
    resp_.set_skip_body(method == HTTP_HEAD);
    resp_.set_auto_chunk(!req_.http10());
    client_body_.clear();
    resp_.set_body_sink(&client_body_, false);
    ubeg_ = uend_ = 0;
    bool head_sent = false;
    bool retried = false;
    for (;;) {
      arm(up_timer_, Clock::now() + route_->options.read_timeout, false);
      error_code ec;
      size_t n = co_await up_.async_read_some(asio::buffer(ubuf_.get(), kBufferSize), ec_token(ec));
      disarm(up_timer_);
      ubeg_ = 0;
      uend_ = n;
      bool done = false;
      if (ec) {
        if (up_timer_.fired) {
          w_.shared.upstream_error("read_timeout");
          drop_upstream(true);
          if (head_sent) co_return false;
          co_return co_await fail_closed(504);
        }
        if (ec == asio::error::eof && resp_.started()) {
          if (resp_.finish() == HttpParser::Event::kMessage) {
            done = true;
          }
        }
        if (!done) {
          // Nothing came back on a pooled connection: the upstream closed it while idle.
          // Retry once on a fresh connection when no body was consumed.
          if (!resp_.started() && up_reused_ && !had_body && !retried) {
            retried = true;
            release_upstream(false);
            int status = co_await connect_upstream(true);
            if (status) co_return co_await fail_closed(status);
            if (!co_await write_up(up_head_)) {
              drop_upstream(true);
              co_return co_await fail_closed(502);
            }
            continue;
          }
          w_.shared.upstream_error("reset");
          drop_upstream(true);
          if (head_sent) co_return false;
          co_return co_await fail_closed(502);
        }
      }
      while (!done && ubeg_ < uend_) {
        size_t used = 0;
        HttpParser::Event ev = resp_.feed(ubuf_.get() + ubeg_, uend_ - ubeg_, &used);
        ubeg_ += used;
        if (ev == HttpParser::Event::kError) {
          w_.shared.upstream_error("bad_response");
          drop_upstream(true);
          if (head_sent) co_return false;
          co_return co_await fail_closed(502);
        }
        if (ev == HttpParser::Event::kMessage) {
          int code = resp_.status_code();
          if (code >= 100 && code < 200 && code != 101) {
            // Interim answers are dropped: 100 was already sent by us, others are optional.
            resp_.reset();
            resp_.set_skip_body(method == HTTP_HEAD);
            resp_.set_auto_chunk(!req_.http10());
            resp_.set_body_sink(&client_body_, false);
            continue;
          }
          done = true;
        }
      }
      if (resp_.headers_done() && !head_sent) {
        int code = resp_.status_code();
        if (code == 101 && upgrade) {
          build_client_head(false, true);
          status_ = 101;
          if (!co_await write_client(head_)) {
            drop_upstream(false);
            co_return false;
          }
          co_await tunnel();
          co_return false;
        }
        if (code == 101) {  // not asked for: the upstream is broken
          w_.shared.upstream_error("bad_response");
          drop_upstream(true);
          co_return co_await fail_closed(502);
        }
        head_sent = true;
        status_ = code;
        close_after_ =
            !req_.keep_alive() || (!resp_.sink_chunked() && !resp_.has_content_length() &&
                                   method != HTTP_HEAD && code != 204 && code != 304);
        // An Upgrade request answered without 101 leaves llhttp in its upgrade state; such
        // clients open a new connection for their next request anyway.
        if (upgrade || w_.draining) close_after_ = true;
        build_client_head(close_after_, false);
        if (!co_await write_client(head_, client_body_)) {
          drop_upstream(false);
          co_return false;
        }
      } else if (!client_body_.empty()) {
        if (!co_await write_client(client_body_)) {
          drop_upstream(false);
          co_return false;
        }
      }
      client_body_.clear();
      if (done) break;
    }
    if (up_ep_) up_ep_->fails = 0;
    // Neither side is reused after an Upgrade that was not accepted: both parsers may think
    // the connection switched protocols.
    release_upstream(resp_.keep_alive() && ubeg_ == uend_ && !upgrade);
    co_return !close_after_;
  }

  void build_client_head(bool close, bool upgrade) {
    int code = resp_.status_code();
    head_.clear();
    head_.append("HTTP/1.1 "sv);
    append_uint(head_, static_cast<uint64_t>(code));
    head_.push_back(' ');
    std::string_view reason = http::reason_phrase(code);
    head_.append(reason.empty() ? std::string_view("Unknown") : reason);
    head_.append("\r\n"sv);
    ConnectionTokens conn_tokens = connection_tokens(resp_);
    for (const HeaderRef& h : resp_.headers()) {
      std::string_view name = resp_.name(h);
      if (is_hop_by_hop(name) || iequals(name, "content-length") ||
          (!conn_tokens.empty() && connection_names(resp_, conn_tokens, name))) {
        continue;
      }
      head_.append(name);
      head_.append(": "sv);
      head_.append(resp_.value(h));
      head_.append("\r\n"sv);
    }
    if (upgrade) {
      head_.append("Upgrade: "sv);
      head_.append(resp_.header("upgrade"));
      head_.append("\r\nConnection: Upgrade\r\n\r\n"sv);
      return;
    }
    if (resp_.has_content_length()) {
      head_.append("Content-Length: "sv);
      append_uint(head_, resp_.content_length());
      head_.append("\r\n"sv);
    } else if (resp_.sink_chunked()) {
      head_.append("Transfer-Encoding: chunked\r\n"sv);
    }
    if (close) {
      head_.append("Connection: close\r\n"sv);
    } else if (req_.http10()) {
      head_.append("Connection: keep-alive\r\n"sv);
    }
    head_.append("\r\n"sv);
  }

  // After a 101: bytes flow both ways untouched until either side closes or stays silent for
  // the idle timeout.
  Task<void> tunnel() {
    auto self = this->shared_from_this();
    // Bytes that arrived with the 101 or after the Upgrade request go first.
    error_code ec;
    if (ubeg_ < uend_) {
      if (!co_await write_client({ubuf_.get() + ubeg_, uend_ - ubeg_})) {
        close_both();
        co_return;
      }
    }
    if (cbeg_ < cend_) {
      co_await asio::async_write(up_, asio::buffer(cbuf_.get() + cbeg_, cend_ - cbeg_),
                                 ec_token(ec));
      if (ec) {
        close_both();
        co_return;
      }
    }
    cbeg_ = cend_ = 0;
    if (up_ep_) up_ep_->fails = 0;
    spawn(pump_up_to_client(self));
    for (;;) {
      arm(client_timer_, Clock::now() + opt_.idle_timeout, true);
      size_t n = co_await stream_read(asio::buffer(cbuf_.get(), kBufferSize), ec);
      disarm(client_timer_);
      if (ec) break;
      bytes_in_ += n;
      co_await asio::async_write(up_, asio::buffer(cbuf_.get(), n), ec_token(ec));
      if (ec) break;
    }
    close_both();
  }

  static Task<void> pump_up_to_client(std::shared_ptr<Conn> self) {
    error_code ec;
    for (;;) {
      self->arm(self->up_timer_, Clock::now() + self->opt_.idle_timeout, false);
      size_t n = co_await self->up_.async_read_some(asio::buffer(self->ubuf_.get(), kBufferSize),
                                                    ec_token(ec));
      self->disarm(self->up_timer_);
      if (ec) break;
      co_await self->stream_write({self->ubuf_.get(), n}, {}, ec);
      if (ec) break;
      self->bytes_out_ += n;
    }
    self->close_both();
  }

  void close_both() {
    error_code ec;
    raw_socket().shutdown(tcp::socket::shutdown_both, ec);
    raw_socket().close(ec);
    if (up_ep_) {
      --up_ep_->active;
      up_ep_ = nullptr;
    }
    up_.close(ec);
  }

  void log_request() {
    if (route_ || status_) w_.count(route_, status_ ? status_ : 499);
    std::FILE* out = opt_.access_log;
    if (!out) return;
    std::string& line = w_.log_line;
    line.clear();
    char ts[40];
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    line.append("{\"time\":\""sv);
    line.append(ts);
    line.append("\",\"remote\":"sv);
    append_json_string(line, remote_ip_);
    line.append(",\"method\":"sv);
    append_json_string(
        line,
        req_.started() ? llhttp_method_name(static_cast<llhttp_method_t>(req_.raw().method)) : "");
    line.append(",\"host\":"sv);
    append_json_string(line, host_);
    line.append(",\"target\":"sv);
    append_json_string(line, req_.target());
    line.append(",\"status\":"sv);
    append_uint(line, static_cast<uint64_t>(status_));
    line.append(",\"bytes_in\":"sv);
    append_uint(line, req_.header_bytes() + req_.body_bytes() + bytes_in_);
    line.append(",\"bytes_out\":"sv);
    append_uint(line, bytes_out_);
    line.append(",\"duration_us\":"sv);
    append_uint(line, static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                                Clock::now() - started_at_)
                                                .count()));
    line.append(",\"ingress\":"sv);
    append_json_string(line, route_ ? std::string_view(route_->ingress) : std::string_view());
    line.append(",\"upstream\":"sv);
    append_json_string(line, upstream_key_);
    line.append(",\"request_id\":"sv);
    append_json_string(line, std::string_view(request_id_, sizeof request_id_));
    line.append(kTls ? ",\"tls\":true}\n" : ",\"tls\":false}\n");
    std::fwrite(line.data(), 1, line.size(), out);
    host_ = {};
  }

  Worker& w_;
  const ProxyOptions& opt_;
  Stream stream_;
  tcp::socket up_;
  EndpointState* up_ep_ = nullptr;
  bool up_reused_ = false;
  asio::steady_timer watchdog_;
  bool done_ = false;
  OpTimer client_timer_;
  OpTimer up_timer_;
  HttpParser req_;
  HttpParser resp_;
  std::unique_ptr<char[]> cbuf_;
  size_t cbeg_ = 0, cend_ = 0;
  std::unique_ptr<char[]> ubuf_;
  size_t ubeg_ = 0, uend_ = 0;
  std::string head_, up_head_, up_body_, client_body_, scratch_;
  std::string sni_;
  std::string remote_ip_;
  Clock::time_point accepted_{};

  // The current request.
  std::shared_ptr<const RouteTable> table_;  // keeps route_ alive across waits
  const Route* route_ = nullptr;
  std::string_view host_;
  std::string_view upstream_key_;
  Clock::time_point started_at_{};
  int status_ = 0;
  bool close_after_ = false;
  bool waiting_for_request_ = false;  // reading with no byte of the next request yet
  uint64_t bytes_in_ = 0;             // tunnelled bytes; head and body are counted by the parser
  uint64_t bytes_out_ = 0;
  char request_id_[32] = {};
};

Task<void> accept_loop(Worker& w, tcp::acceptor& acceptor, bool tls) {
  for (;;) {
    error_code ec;
    tcp::socket s(w.io);
    co_await acceptor.async_accept(s, ec_token(ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      // Out of descriptors and the like: back off instead of spinning.
      asio::steady_timer t(w.io, std::chrono::milliseconds(50));
      co_await t.async_wait(ec_token(ec));
      continue;
    }
    if (w.shared.connections.load(std::memory_order_relaxed) >= w.shared.opt.max_connections) {
      if (w.shared.rejected) w.shared.rejected->inc();
      s.close(ec);
      continue;
    }
    s.set_option(tcp::no_delay(true), ec);
    if (tls) {
      auto c = std::make_shared<Conn<TlsStream>>(w, std::move(s));
      spawn(Conn<TlsStream>::run(std::move(c)));
    } else {
      auto c = std::make_shared<Conn<tcp::socket>>(w, std::move(s));
      spawn(Conn<tcp::socket>::run(std::move(c)));
    }
  }
}

void open_acceptor(tcp::acceptor& acc, const tcp::endpoint& ep, const std::string& what) {
  error_code ec;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acc.set_option(reuse_port(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen on " + what + ": " + ec.message());
}

}  // namespace

// ---- Proxy ----

struct Proxy::Impl {
  Impl(const RouteTableHolder& h, ProxyOptions o) : shared(h, std::move(o)) {}
  Shared shared;
  std::vector<std::unique_ptr<Worker>> workers;
  bool started = false;
};

Proxy::Proxy(const RouteTableHolder& routes, ProxyOptions options)
    : impl_(std::make_unique<Impl>(routes, std::move(options))) {}

Proxy::~Proxy() {
  stop();
}

void Proxy::start() {
  Shared& s = impl_->shared;
  const ProxyOptions& o = s.opt;
  if (o.threads < 1) throw std::runtime_error("threads must be at least 1");
  if (o.listen_http.empty() && o.listen_https.empty()) {
    throw std::runtime_error("neither an HTTP nor an HTTPS listen address was given");
  }
  std::optional<tcp::endpoint> http_ep, https_ep;
  if (!o.listen_http.empty()) http_ep = parse_listen(o.listen_http, 0);
  if (!o.listen_https.empty()) https_ep = parse_listen(o.listen_https, 0);
  for (int i = 0; i < o.threads; ++i) {
    auto w = std::make_unique<Worker>(s);
    // Port 0: the first worker's bind picks the port, the others join it through SO_REUSEPORT.
    if (http_ep) {
      w->http_acceptor.emplace(w->io);
      tcp::endpoint ep(http_ep->address(), s.http_port ? s.http_port : http_ep->port());
      open_acceptor(*w->http_acceptor, ep, o.listen_http);
      s.http_port = w->http_acceptor->local_endpoint().port();
    }
    if (https_ep) {
      w->https_acceptor.emplace(w->io);
      tcp::endpoint ep(https_ep->address(), s.https_port ? s.https_port : https_ep->port());
      open_acceptor(*w->https_acceptor, ep, o.listen_https);
      s.https_port = w->https_acceptor->local_endpoint().port();
      w->tls_base = std::make_unique<ssl::context>(ssl::context::tls_server);
      SSL_CTX* base = w->tls_base->native_handle();
      apply_modern_tls_settings(base);
      SSL_CTX_set_tlsext_servername_callback(base, on_servername);
      SSL_CTX_set_tlsext_servername_arg(base, w.get());
    }
    impl_->workers.push_back(std::move(w));
  }
  for (auto& w : impl_->workers) {
    Worker* wp = w.get();
    // The accept loops start on the worker thread, like everything else of the worker.
    asio::post(w->io, [wp] {
      if (wp->http_acceptor) spawn(accept_loop(*wp, *wp->http_acceptor, false));
      if (wp->https_acceptor) spawn(accept_loop(*wp, *wp->https_acceptor, true));
    });
    w->thread = std::thread([wp] {
      try {
        wp->io.run();
      } catch (const std::exception& e) {
        spdlog::error("ingress: worker stopped: {}", e.what());
      }
    });
  }
  impl_->started = true;
}

bool Proxy::drain(std::chrono::milliseconds timeout) {
  if (!impl_ || impl_->workers.empty()) return true;
  for (auto& w : impl_->workers) {
    asio::post(w->io, [wp = w.get()] {
      error_code ec;
      if (wp->http_acceptor) wp->http_acceptor->close(ec);
      if (wp->https_acceptor) wp->https_acceptor->close(ec);
      wp->draining = true;
      for (ConnBase* c : wp->conns) c->drain_kick();
    });
  }
  auto deadline = Clock::now() + timeout;
  while (active_connections() > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return active_connections() == 0;
}

void Proxy::stop() {
  if (!impl_ || impl_->workers.empty()) return;
  for (auto& w : impl_->workers) {
    asio::post(w->io, [wp = w.get()] {
      error_code ec;
      if (wp->http_acceptor) wp->http_acceptor->close(ec);
      if (wp->https_acceptor) wp->https_acceptor->close(ec);
      wp->io.stop();
    });
  }
  for (auto& w : impl_->workers) {
    if (w->thread.joinable()) w->thread.join();
  }
  impl_->workers.clear();
}

uint16_t Proxy::http_port() const {
  return impl_->shared.http_port;
}
uint16_t Proxy::https_port() const {
  return impl_->shared.https_port;
}
size_t Proxy::active_connections() const {
  return impl_->shared.connections.load(std::memory_order_relaxed);
}

}  // namespace k8c::ingress
