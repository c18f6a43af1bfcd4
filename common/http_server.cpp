// HTTP/1.1 server on Boost.Asio + llhttp.
//
// Threading: one io_context run by N threads, a strand per connection. A single io_context lets
// completions spread over all threads, so one busy watch stream never holds up the unrelated
// connections that io_context-per-thread would have pinned to the same thread; the strand keeps
// each connection's handlers serial without locks. The io_context and its threads are the
// server's own, or an IoLoop's shared with other servers (many small listeners, one thread);
// either way the listener's handlers run on a strand of their own.
//
// Per connection, requests are parsed one at a time: llhttp pauses at the end of each message,
// the handler runs, and the next pipelined request is parsed only after the previous response
// has been written. A read stays pending while a handler works or a stream is open, so a peer
// that goes away is noticed at once (bytes it sends meanwhile are buffered, up to a cap).
//
// A responder is bound to one request. Once its response has been fully written, or the
// connection dies, it is finished: closed() returns true, further calls are no-ops, and its
// on_close callbacks run (once). Callbacks of completed requests thus never pile up on a long
// keep-alive connection.
#include <llhttp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

// Boost.Asio 1.74 uses std::exchange without including <utility>.
#include <utility>

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "common/http.h"

namespace k8c::http {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

namespace {

class Session;

// State shared by the server, its sessions and every responder. Responders may outlive the
// server (a watch registry can hold one after shutdown), so they reach sessions only through
// this object, which says whether the io_context may still be posted to.
struct Core {
  ServerOptions options;
  Handler handler;
  std::shared_mutex post_mu;  // shared while posting; exclusive when the server stops
  std::atomic<bool> alive{true};
  std::atomic<size_t> active{0};
  std::mutex sessions_mu;
  std::condition_variable sessions_cv;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;
};

struct Identity {
  std::optional<std::string> cn;
  std::vector<std::string> orgs;
};

class ResponderImpl final : public Responder, public std::enable_shared_from_this<ResponderImpl> {
 public:
  ResponderImpl(std::shared_ptr<Core> core, std::weak_ptr<Session> session)
      : core_(std::move(core)), session_(std::move(session)) {}

  void send(Response response) override;
  void start_stream(int status, std::vector<Header> headers) override;
  void write_chunk(std::shared_ptr<const std::string> data) override;
  void end_stream() override;
  bool closed() const override {
    return finished_.load(std::memory_order_acquire) || !core_->alive.load();
  }
  void on_close(std::function<void()> callback) override;
  size_t pending_bytes() const override { return pending_.load(std::memory_order_relaxed); }

  // On the session's strand, when the response is complete or the connection died.
  void finish();
  void sub_pending(size_t n) { pending_.fetch_sub(n, std::memory_order_relaxed); }

 private:
  template <class F>
  void post(F&& f);

  std::shared_ptr<Core> core_;
  std::weak_ptr<Session> session_;
  std::atomic<bool> finished_{false};
  std::atomic<size_t> pending_{0};
  std::mutex cb_mu_;
  bool fired_ = false;
  std::vector<std::function<void()>> callbacks_;
};

enum class Phase { kHandshake, kIdle, kHeaders, kBody, kInFlight, kLinger, kClosed };

// One queued piece of output. Chunk payloads are shared, not copied: a watch event serialized
// once is written to every watcher from the same bytes.
struct OutItem {
  std::string owned;
  std::shared_ptr<const std::string> shared;
  std::string_view trailer;  // static bytes written after `shared`
  size_t accounted = 0;      // bytes counted in the responder's pending_bytes
  bool last = false;         // the response ends with this item
};

constexpr std::string_view kCrlf = "\r\n";

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}
constexpr std::string_view kLastChunk = "0\r\n\r\n";
// While a request is in flight, buffer at most this many early bytes of the next ones.
constexpr size_t kMaxPipelineBuffer = 256 * 1024;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<Core> core, asio::any_io_executor ex, std::string remote)
      : core_(std::move(core)), ex_(std::move(ex)), timer_(ex_), remote_(std::move(remote)) {
    llhttp_settings_init(&settings_);
    settings_.on_message_begin = &Session::cb_message_begin;
    settings_.on_method = &Session::cb_method;
    settings_.on_url = &Session::cb_url;
    settings_.on_header_field = &Session::cb_header_field;
    settings_.on_header_value = &Session::cb_header_value;
    settings_.on_header_value_complete = &Session::cb_header_value_complete;
    settings_.on_headers_complete = &Session::cb_headers_complete;
    settings_.on_body = &Session::cb_body;
    settings_.on_message_complete = &Session::cb_message_complete;
    llhttp_init(&parser_, HTTP_REQUEST, &settings_);
    parser_.data = this;
  }
  virtual ~Session() = default;

  const asio::any_io_executor& executor() const { return ex_; }

  // On the strand: registers the session and starts it.
  void start() {
    {
      std::lock_guard l(core_->sessions_mu);
      core_->sessions.emplace(this, weak_from_this());
    }
    registered_ = true;
    set_deadline(Clock::now() + core_->options.header_timeout);
    begin();
  }

  void close();

  // Responder operations, always on the strand.
  void do_send(const std::shared_ptr<ResponderImpl>& r, Response response);
  void do_start_stream(const std::shared_ptr<ResponderImpl>& r, int status,
                       std::vector<Header> headers);
  void do_chunk(const std::shared_ptr<ResponderImpl>& r, std::shared_ptr<const std::string> data,
                size_t accounted);
  void do_end_stream(const std::shared_ptr<ResponderImpl>& r);

 protected:
  // Transport hooks, implemented for plain TCP and for TLS.
  virtual void begin() = 0;  // handshake if any, then on_ready()
  virtual void async_read_some(asio::mutable_buffer buf) = 0;
  virtual void async_write(const std::vector<asio::const_buffer>& bufs) = 0;
  virtual void async_linger_read(asio::mutable_buffer buf) = 0;
  virtual void shutdown_send() = 0;
  virtual void close_transport() = 0;

  void on_ready(Identity identity);
  void on_read(const error_code& ec, size_t n);
  void on_write(const error_code& ec, size_t n);
  void start_linger_read();
  bool is_closed() const { return phase_ == Phase::kClosed; }

 private:
  static Session* self(llhttp_t* p) { return static_cast<Session*>(p->data); }
  static int cb_message_begin(llhttp_t* p);
  static int cb_method(llhttp_t* p, const char* at, size_t n);
  static int cb_url(llhttp_t* p, const char* at, size_t n);
  static int cb_header_field(llhttp_t* p, const char* at, size_t n);
  static int cb_header_value(llhttp_t* p, const char* at, size_t n);
  static int cb_header_value_complete(llhttp_t* p);
  static int cb_headers_complete(llhttp_t* p);
  static int cb_body(llhttp_t* p, const char* at, size_t n);
  static int cb_message_complete(llhttp_t* p);
  int fail(int status, const char* reason);
  bool add_header_bytes(size_t n);

  void maybe_read();
  void parse();
  void dispatch();
  void finish_request();
  void respond_error(int status);
  void enqueue(OutItem item);
  void flush();
  void set_deadline(Clock::time_point tp);
  void on_timer(const error_code& ec);
  bool current(const std::shared_ptr<ResponderImpl>& r) const {
    return r == responder_ && phase_ == Phase::kInFlight;
  }
  std::string head(int status, const std::vector<Header>& headers, bool* close) const;

  std::shared_ptr<Core> core_;
  asio::any_io_executor ex_;
  asio::steady_timer timer_;
  Clock::time_point deadline_ = Clock::time_point::max();
  bool timer_armed_ = false;  // a wait is pending on timer_, ending at timer_expiry_
  Clock::time_point timer_expiry_;
  std::string remote_;
  Identity identity_;
  bool registered_ = false;

  Phase phase_ = Phase::kHandshake;
  llhttp_settings_t settings_;
  llhttp_t parser_;
  std::array<char, 16 * 1024> read_buf_;
  std::string pending_;  // received bytes not yet parsed
  bool read_pending_ = false;

  // The request being parsed or served.
  Request request_;
  size_t header_bytes_ = 0;
  size_t header_count_ = 0;
  bool new_field_ = true;
  bool http10_ = false;
  bool linger_started_ = false;
  int error_status_ = 0;
  bool keep_alive_ = true;
  bool head_method_ = false;
  std::shared_ptr<ResponderImpl> responder_;
  enum class Reply { kNone, kSent, kStreaming, kEnded } reply_ = Reply::kNone;
  bool close_after_ = false;

  std::deque<OutItem> out_;
  bool writing_ = false;
  size_t writing_count_ = 0;
  std::vector<asio::const_buffer> bufs_;
};

// ---- Responder ----

template <class F>
void ResponderImpl::post(F&& f) {
  std::shared_lock l(core_->post_mu);
  if (!core_->alive.load()) return;
  auto s = session_.lock();
  if (!s) return;
  asio::post(s->executor(),
             [s, self = shared_from_this(), f = std::forward<F>(f)]() mutable { f(*s, self); });
}

void ResponderImpl::send(Response response) {
  if (closed()) return;
  post([response = std::move(response)](Session& s, std::shared_ptr<ResponderImpl>& r) mutable {
    s.do_send(r, std::move(response));
  });
}

void ResponderImpl::start_stream(int status, std::vector<Header> headers) {
  if (closed()) return;
  post([status, headers = std::move(headers)](Session& s,
                                              std::shared_ptr<ResponderImpl>& r) mutable {
    s.do_start_stream(r, status, std::move(headers));
  });
}

void ResponderImpl::write_chunk(std::shared_ptr<const std::string> data) {
  // An empty chunk would read as the end of the body.
  if (closed() || !data || data->empty()) return;
  size_t n = data->size();
  pending_.fetch_add(n, std::memory_order_relaxed);
  post([data = std::move(data), n](Session& s, std::shared_ptr<ResponderImpl>& r) mutable {
    s.do_chunk(r, std::move(data), n);
  });
}

void ResponderImpl::end_stream() {
  if (closed()) return;
  post([](Session& s, std::shared_ptr<ResponderImpl>& r) { s.do_end_stream(r); });
}

void ResponderImpl::on_close(std::function<void()> callback) {
  if (!callback) return;
  {
    std::lock_guard l(cb_mu_);
    if (!fired_) {
      callbacks_.push_back(std::move(callback));
      return;
    }
  }
  // Already finished. Run it on an I/O thread as promised when the server still runs; once the
  // server is gone there is no such thread, and running it here beats never running it.
  {
    std::shared_lock l(core_->post_mu);
    if (core_->alive.load()) {
      if (auto s = session_.lock()) {
        asio::post(s->executor(), [cb = std::move(callback)] {
          try {
            cb();
          } catch (const std::exception& e) {
            spdlog::warn("http: on_close callback threw: {}", e.what());
          }
        });
        return;
      }
    }
  }
  try {
    callback();
  } catch (const std::exception& e) {
    spdlog::warn("http: on_close callback threw: {}", e.what());
  }
}

void ResponderImpl::finish() {
  finished_.store(true, std::memory_order_release);
  std::vector<std::function<void()>> cbs;
  {
    std::lock_guard l(cb_mu_);
    if (fired_) return;
    fired_ = true;
    cbs.swap(callbacks_);
  }
  for (auto& cb : cbs) {
    try {
      cb();
    } catch (const std::exception& e) {
      spdlog::warn("http: on_close callback threw: {}", e.what());
    }
  }
}

// ---- Session: parsing ----

int Session::fail(int status, const char* reason) {
  error_status_ = status;
  llhttp_set_error_reason(&parser_, reason);
  return HPE_USER;
}

bool Session::add_header_bytes(size_t n) {
  header_bytes_ += n;
  return header_bytes_ <= core_->options.max_header_bytes;
}

int Session::cb_message_begin(llhttp_t* p) {
  Session* s = self(p);
  s->request_ = Request{};
  s->request_.remote = s->remote_;
  s->request_.client_cn = s->identity_.cn;
  s->request_.client_orgs = s->identity_.orgs;
  s->header_bytes_ = 0;
  s->header_count_ = 0;
  s->new_field_ = true;
  s->error_status_ = 0;
  s->phase_ = Phase::kHeaders;
  // The header deadline runs from the first byte and is never extended by later bytes.
  s->set_deadline(Clock::now() + s->core_->options.header_timeout);
  return 0;
}

int Session::cb_method(llhttp_t* p, const char* at, size_t n) {
  Session* s = self(p);
  if (!s->add_header_bytes(n)) return s->fail(431, "request line too large");
  s->request_.method.append(at, n);
  return 0;
}

int Session::cb_url(llhttp_t* p, const char* at, size_t n) {
  Session* s = self(p);
  if (!s->add_header_bytes(n)) return s->fail(431, "request line too large");
  s->request_.target.append(at, n);
  return 0;
}

int Session::cb_header_field(llhttp_t* p, const char* at, size_t n) {
  Session* s = self(p);
  // ": " and CRLF count too, so many tiny headers cannot slip under the byte limit.
  if (s->new_field_) {
    if (++s->header_count_ > s->core_->options.max_headers) {
      return s->fail(431, "too many headers");
    }
    s->new_field_ = false;
    s->request_.headers.emplace_back();
    // ": " and CRLF count too, so many tiny headers cannot slip under the byte limit.
    if (!s->add_header_bytes(4)) return s->fail(431, "header block too large");
  }
  if (!s->add_header_bytes(n)) return s->fail(431, "header block too large");
  // This llhttp build tolerates some non-token bytes in field names; RFC 9110 does not.
  if (!http::is_token({at, n})) return s->fail(400, "invalid header name");
  s->request_.headers.back().name.append(at, n);
  return 0;
}

int Session::cb_header_value(llhttp_t* p, const char* at, size_t n) {
  Session* s = self(p);
  if (!s->add_header_bytes(n)) return s->fail(431, "header block too large");
  s->request_.headers.back().value.append(at, n);
  return 0;
}

int Session::cb_header_value_complete(llhttp_t* p) {
  // The next field starts a new header, even when this value was empty.
  self(p)->new_field_ = true;
  return 0;
}

int Session::cb_headers_complete(llhttp_t* p) {
  Session* s = self(p);
  const auto& opts = s->core_->options;
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > opts.max_body_bytes) {
    return s->fail(413, "body too large");
  }
  Request& r = s->request_;
  size_t q = r.target.find('?');
  r.path = url_decode(std::string_view(r.target).substr(0, q));
  if (q != std::string::npos) r.query = r.target.substr(q + 1);
  s->head_method_ = p->method == HTTP_HEAD;
  s->http10_ = p->http_major == 1 && p->http_minor == 0;
  bool has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length);
  if (has_body) {
    if (p->flags & F_CONTENT_LENGTH) r.body.reserve(p->content_length);
    s->phase_ = Phase::kBody;
    // A deadline for the whole body, like the header one: a slow drip cannot hold a slot.
    s->set_deadline(Clock::now() + opts.body_timeout);
    const std::string* expect = r.header("Expect");
    if (expect && (*expect == "100-continue" || *expect == "100-Continue")) {
      OutItem item;
      item.owned = "HTTP/1.1 100 Continue\r\n\r\n";
      s->enqueue(std::move(item));
    }
  }
  return 0;
}

int Session::cb_body(llhttp_t* p, const char* at, size_t n) {
  Session* s = self(p);
  if (s->request_.body.size() + n > s->core_->options.max_body_bytes) {
    return s->fail(413, "body too large");
  }
  s->request_.body.append(at, n);
  return 0;
}

int Session::cb_message_complete(llhttp_t* p) {
  Session* s = self(p);
  s->keep_alive_ = llhttp_should_keep_alive(p) != 0;
  s->phase_ = Phase::kInFlight;
  s->deadline_ = Clock::time_point::max();
  return HPE_PAUSED;
}

void Session::on_ready(Identity identity) {
  identity_ = std::move(identity);
  phase_ = Phase::kIdle;
  maybe_read();
}

void Session::maybe_read() {
  if (read_pending_) return;
  switch (phase_) {
    case Phase::kIdle:
    case Phase::kHeaders:
    case Phase::kBody:
      break;
    case Phase::kInFlight:
      if (pending_.size() >= kMaxPipelineBuffer) return;
      break;
    default:
      return;
  }
  read_pending_ = true;
  async_read_some(asio::buffer(read_buf_));
}

void Session::on_read(const error_code& ec, size_t n) {
  read_pending_ = false;
  if (is_closed()) return;
  if (phase_ == Phase::kLinger) {
    if (ec) {
      close();
    } else if (linger_started_) {
      start_linger_read();
    }
    return;
  }
  if (ec) {
    // EOF or error: the peer is gone, including any request it had in flight.
    close();
    return;
  }
  pending_.append(read_buf_.data(), n);
  if (phase_ != Phase::kInFlight) parse();
  maybe_read();
}

void Session::parse() {
  if (pending_.empty()) return;
  const char* data = pending_.data();
  llhttp_errno_t err = llhttp_execute(&parser_, data, pending_.size());
  if (err == HPE_OK) {
    pending_.clear();
    return;
  }
  if (err == HPE_PAUSED) {
    size_t used = static_cast<size_t>(llhttp_get_error_pos(&parser_) - data);
    pending_.erase(0, used);
    dispatch();
    return;
  }
  // Limit violations found in callbacks carry their own status, whatever code llhttp maps the
  // callback's failure to.
  int status = error_status_ ? error_status_ : 400;
  spdlog::debug("http: {} rejected request: {} ({})", remote_, llhttp_errno_name(err),
                llhttp_get_error_reason(&parser_) ? llhttp_get_error_reason(&parser_) : "");
  pending_.clear();
  respond_error(status);
}

void Session::dispatch() {
  responder_ = std::make_shared<ResponderImpl>(core_, weak_from_this());
  reply_ = Reply::kNone;
  close_after_ = !keep_alive_;
  auto responder = responder_;
  try {
    core_->handler(request_, responder);
  } catch (const std::exception& e) {
    spdlog::error("http: handler for {} {} threw: {}", request_.method, request_.target, e.what());
    if (reply_ == Reply::kNone && current(responder)) {
      Response r;
      r.status = 500;
      r.body = "internal error\n";
      do_send(responder, std::move(r));
    } else {
      close();
    }
  } catch (...) {
    close();
  }
}

void Session::finish_request() {
  auto r = std::move(responder_);
  reply_ = Reply::kNone;
  if (r) r->finish();
  if (is_closed()) return;
  if (close_after_) {
    close();
    return;
  }
  phase_ = Phase::kIdle;
  set_deadline(Clock::now() + core_->options.idle_timeout);
  llhttp_resume(&parser_);
  parse();
  maybe_read();
}

// ---- Session: responses ----

std::string Session::head(int status, const std::vector<Header>& headers, bool* close) const {
  std::string out;
  out.reserve(128 + headers.size() * 48);
  out.append("HTTP/1.1 ");
  out.append(std::to_string(status));
  out.push_back(' ');
  out.append(reason_phrase(status));
  out.append(kCrlf);
  for (const auto& h : headers) {
    // Framing is ours to decide; a handler's stale Content-Length would corrupt the stream.
    if (iequals(h.name, "Content-Length") || iequals(h.name, "Transfer-Encoding")) continue;
    if (iequals(h.name, "Connection") && h.value.find("close") != std::string::npos) {
      *close = true;
    }
    out.append(h.name);
    out.append(": ");
    out.append(h.value);
    out.append(kCrlf);
  }
  if (!find_header(headers, "Connection")) {
    if (*close) {
      out.append("Connection: close\r\n");
    } else if (http10_) {
      out.append("Connection: keep-alive\r\n");
    }
  }
  return out;
}

void Session::do_send(const std::shared_ptr<ResponderImpl>& r, Response response) {
  if (!current(r) || reply_ != Reply::kNone) return;
  reply_ = Reply::kSent;
  OutItem item;
  item.owned = head(response.status, response.headers, &close_after_);
  bool no_body = response.status < 200 || response.status == 204 || response.status == 304;
  if (!no_body) {
    item.owned.append("Content-Length: ");
    item.owned.append(std::to_string(response.body.size()));
    item.owned.append(kCrlf);
  }
  item.owned.append(kCrlf);
  if (!no_body && !head_method_) {
    if (response.body.size() <= 16 * 1024) {
      item.owned.append(response.body);
    } else {
      // Large bodies are written from their own buffer instead of being copied.
      OutItem hdr;
      hdr.owned = std::move(item.owned);
      enqueue(std::move(hdr));
      item = OutItem{};
      item.shared = std::make_shared<const std::string>(std::move(response.body));
    }
  }
  item.last = true;
  enqueue(std::move(item));
}

void Session::do_start_stream(const std::shared_ptr<ResponderImpl>& r, int status,
                              std::vector<Header> headers) {
  if (!current(r) || reply_ != Reply::kNone) return;
  reply_ = Reply::kStreaming;
  OutItem item;
  item.owned = head(status, headers, &close_after_);
  item.owned.append("Transfer-Encoding: chunked\r\n\r\n");
  enqueue(std::move(item));
}

void Session::do_chunk(const std::shared_ptr<ResponderImpl>& r,
                       std::shared_ptr<const std::string> data, size_t accounted) {
  if (!current(r) || reply_ != Reply::kStreaming || head_method_) {
    r->sub_pending(accounted);
    return;
  }
  char size[24];
  int len = snprintf(size, sizeof size, "%zx\r\n", data->size());
  OutItem prefix;
  prefix.owned.assign(size, static_cast<size_t>(len));
  enqueue(std::move(prefix));
  OutItem item;
  item.shared = std::move(data);
  item.trailer = kCrlf;
  item.accounted = accounted;
  enqueue(std::move(item));
}

void Session::do_end_stream(const std::shared_ptr<ResponderImpl>& r) {
  if (!current(r) || reply_ != Reply::kStreaming) return;
  reply_ = Reply::kEnded;
  OutItem item;
  if (!head_method_) item.owned = kLastChunk;
  item.last = true;
  enqueue(std::move(item));
}

void Session::respond_error(int status) {
  std::string body = std::string(reason_phrase(status)) + "\n";
  OutItem item;
  item.owned = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason_phrase(status)) +
               "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  item.last = true;
  phase_ = Phase::kLinger;
  deadline_ = Clock::time_point::max();
  close_after_ = true;
  responder_.reset();
  enqueue(std::move(item));
}

void Session::enqueue(OutItem item) {
  out_.push_back(std::move(item));
  flush();
}

void Session::flush() {
  if (writing_ || out_.empty() || is_closed()) return;
  bufs_.clear();
  writing_count_ = 0;
  for (const auto& item : out_) {
    if (bufs_.size() + 3 > 64) break;
    if (!item.owned.empty()) bufs_.push_back(asio::buffer(item.owned));
    if (item.shared) bufs_.push_back(asio::buffer(*item.shared));
    if (!item.trailer.empty())
      bufs_.push_back(asio::buffer(item.trailer.data(), item.trailer.size()));
    ++writing_count_;
  }
  writing_ = true;
  async_write(bufs_);
}

void Session::on_write(const error_code& ec, size_t /*n*/) {
  writing_ = false;
  if (is_closed()) return;
  if (ec) {
    close();
    return;
  }
  bool done = false;
  for (size_t i = 0; i < writing_count_; ++i) {
    OutItem& item = out_.front();
    if (item.accounted && responder_) responder_->sub_pending(item.accounted);
    done = done || item.last;
    out_.pop_front();
  }
  writing_count_ = 0;
  if (done) {
    if (phase_ == Phase::kLinger) {
      // Stop sending but keep reading for a moment: closing with unread input would reset the
      // connection and could destroy the error response before the client reads it.
      shutdown_send();
      linger_started_ = true;
      set_deadline(Clock::now() + std::chrono::seconds(2));
      start_linger_read();
      return;
    }
    finish_request();
    return;
  }
  flush();
}

void Session::start_linger_read() {
  // A normal read may still be pending; its completion continues the linger instead.
  if (read_pending_) return;
  read_pending_ = true;
  async_linger_read(asio::buffer(read_buf_));
}

// ---- Session: deadlines and teardown ----

void Session::set_deadline(Clock::time_point tp) {
  deadline_ = tp;
  // A pending wait that ends no later than the new deadline is kept: when it fires, on_timer()
  // waits again for the rest. Moving the deadline later, as every request does (header, body,
  // then idle), so costs no timer cancellation and no aborted handler.
  if (timer_armed_ && timer_expiry_ <= tp) return;
  timer_armed_ = true;
  timer_expiry_ = tp;
  timer_.expires_at(tp);
  timer_.async_wait([self = shared_from_this()](const error_code& ec) { self->on_timer(ec); });
}

void Session::on_timer(const error_code& ec) {
  // An aborted wait was replaced by a newer one (or the session closed): that one is pending.
  if (ec == asio::error::operation_aborted || is_closed()) return;
  timer_armed_ = false;
  if (deadline_ == Clock::time_point::max()) return;
  // The deadline moved later while this wait was pending: wait for the rest.
  if (Clock::now() < deadline_) return set_deadline(deadline_);
  switch (phase_) {
    case Phase::kHeaders:
    case Phase::kBody:
      if (!writing_) {
        spdlog::debug("http: {} request timed out", remote_);
        llhttp_init(&parser_, HTTP_REQUEST, &settings_);
        parser_.data = this;
        respond_error(408);
        return;
      }
      close();
      return;
    case Phase::kInFlight:
      return;
    default:
      close();
  }
}

void Session::close() {
  if (is_closed()) return;
  phase_ = Phase::kClosed;
  deadline_ = Clock::time_point::max();
  timer_.cancel();
  close_transport();
  out_.clear();
  pending_.clear();
  if (auto r = std::move(responder_)) r->finish();
  if (registered_) {
    registered_ = false;
    std::lock_guard l(core_->sessions_mu);
    core_->sessions.erase(this);
    core_->active.fetch_sub(1);
    core_->sessions_cv.notify_all();
  }
}

// ---- Transports ----

class PlainSession final : public Session {
 public:
  PlainSession(std::shared_ptr<Core> core, tcp::socket socket, std::string remote)
      : Session(std::move(core), socket.get_executor(), std::move(remote)),
        socket_(std::move(socket)) {}

 protected:
  void begin() override { on_ready({}); }
  void async_read_some(asio::mutable_buffer buf) override {
    socket_.async_read_some(
        buf, [self = shared_from_this(), this](const error_code& ec, size_t n) { on_read(ec, n); });
  }
  void async_write(const std::vector<asio::const_buffer>& bufs) override {
    asio::async_write(
        socket_, bufs,
        [self = shared_from_this(), this](const error_code& ec, size_t n) { on_write(ec, n); });
  }
  void async_linger_read(asio::mutable_buffer buf) override {
    socket_.async_read_some(
        buf, [self = shared_from_this(), this](const error_code& ec, size_t n) { on_read(ec, n); });
  }
  void shutdown_send() override {
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
  }
  void close_transport() override {
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

 private:
  tcp::socket socket_;
};

class TlsSession final : public Session {
 public:
  TlsSession(std::shared_ptr<Core> core, tcp::socket socket, ssl::context& ctx, std::string remote)
      : Session(std::move(core), socket.get_executor(), std::move(remote)),
        stream_(std::move(socket), ctx) {}

 protected:
  void begin() override {
    stream_.async_handshake(ssl::stream_base::server,
                            [self = shared_from_this(), this](const error_code& ec) {
                              if (is_closed()) return;
                              if (ec) {
                                spdlog::debug("http: TLS handshake failed: {}", ec.message());
                                close();
                                return;
                              }
                              on_ready(peer_identity());
                            });
  }
  void async_read_some(asio::mutable_buffer buf) override {
    stream_.async_read_some(
        buf, [self = shared_from_this(), this](const error_code& ec, size_t n) { on_read(ec, n); });
  }
  void async_write(const std::vector<asio::const_buffer>& bufs) override {
    // Asio's SSL stream hands a buffer sequence to OpenSSL one buffer at a time, so a response
    // head and its body, or a watch event's envelope and object, would each become a TLS record
    // and a send() of their own. One copy into a contiguous buffer makes them one record and
    // one send, which costs far less than the records and system calls it saves.
    // Large writes (lists) are mostly payload already and are not worth copying.
    size_t total = 0;
    for (const auto& b : bufs) total += b.size();
    if (bufs.size() == 1 || total > kCoalesceLimit) {
      asio::async_write(
          stream_, bufs,
          [self = shared_from_this(), this](const error_code& ec, size_t n) { on_write(ec, n); });
      return;
    }
    out_.clear();
    out_.reserve(total);
    for (const auto& b : bufs) out_.append(static_cast<const char*>(b.data()), b.size());
    asio::async_write(
        stream_, asio::buffer(out_),
        [self = shared_from_this(), this](const error_code& ec, size_t n) { on_write(ec, n); });
  }
  void async_linger_read(asio::mutable_buffer buf) override {
    // Raw TCP bytes: the TLS layer has nothing more to say once the error response is out.
    stream_.next_layer().async_read_some(
        buf, [self = shared_from_this(), this](const error_code& ec, size_t n) { on_read(ec, n); });
  }
  void shutdown_send() override {
    error_code ignored;
    stream_.next_layer().shutdown(tcp::socket::shutdown_send, ignored);
  }
  void close_transport() override {
    error_code ignored;
    stream_.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.next_layer().close(ignored);
  }

 private:
  Identity peer_identity() {
    Identity id;
    SSL* ssl = stream_.native_handle();
    X509* cert = SSL_get0_peer_certificate(ssl);
    if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) return id;
    X509_NAME* subject = X509_get_subject_name(cert);
    auto text = [](X509_NAME_ENTRY* e) {
      ASN1_STRING* s = X509_NAME_ENTRY_get_data(e);
      unsigned char* utf8 = nullptr;
      int len = ASN1_STRING_to_UTF8(&utf8, s);
      std::string out;
      if (len >= 0 && utf8) out.assign(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
      OPENSSL_free(utf8);
      return out;
    };
    int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (idx >= 0) id.cn = text(X509_NAME_get_entry(subject, idx));
    for (idx = -1; (idx = X509_NAME_get_index_by_NID(subject, NID_organizationName, idx)) >= 0;) {
      id.orgs.push_back(text(X509_NAME_get_entry(subject, idx)));
    }
    return id;
  }

  ssl::stream<tcp::socket> stream_;
  static constexpr size_t kCoalesceLimit = 64 * 1024;
  std::string out_;  // the bytes of the write in flight, when coalesced
};

int alpn_select(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
  static const unsigned char kProtos[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kProtos, sizeof kProtos, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

std::unique_ptr<ssl::context> make_server_tls(const TlsServerConfig& cfg) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(
      native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_cipher_list(native,
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                          "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                          "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
  if (SSL_CTX_use_certificate_chain_file(native, cfg.cert_file.c_str()) != 1) {
    throw std::runtime_error("cannot load TLS certificate chain from " + cfg.cert_file);
  }
  if (SSL_CTX_use_PrivateKey_file(native, cfg.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    throw std::runtime_error("cannot load TLS private key from " + cfg.key_file);
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    throw std::runtime_error("TLS private key " + cfg.key_file + " does not match certificate " +
                             cfg.cert_file);
  }
  if (!cfg.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(native, cfg.client_ca_file.c_str(), nullptr) != 1) {
      throw std::runtime_error("cannot load client CA from " + cfg.client_ca_file);
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(cfg.client_ca_file.c_str());
    if (names) SSL_CTX_set_client_CA_list(native, names);
    // Ask for a certificate and verify one if sent, but let anonymous clients through: the
    // application answers 401 itself, which is friendlier than a failed handshake.
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
    static const unsigned char kSidCtx[] = "k8c";
    SSL_CTX_set_session_id_context(native, kSidCtx, sizeof kSidCtx - 1);
  }
  SSL_CTX_set_alpn_select_cb(native, alpn_select, nullptr);
  ERR_clear_error();
  return ctx;
}

// ---- Server ----

// The listening socket and its accept loop. Its handlers hold it by shared_ptr, so a server
// stopped and destroyed while the (shared) loop still runs leaves nothing dangling: the aborted
// accept completes later and lets go of it. It holds no reference to the loop itself, so what is
// still queued in a loop being destroyed releases it without a cycle.
struct Listener : std::enable_shared_from_this<Listener> {
  Listener(std::shared_ptr<Core> c, asio::io_context& io)
      : core(std::move(c)),
        ioc(io),
        strand(asio::make_strand(io)),
        acceptor(strand),
        retry(strand) {}

  std::shared_ptr<Core> core;
  asio::io_context& ioc;
  asio::strand<asio::io_context::executor_type> strand;  // the acceptor's and retry's handlers
  tcp::acceptor acceptor;
  asio::steady_timer retry;
  std::unique_ptr<ssl::context> tls;

  void close() {
    error_code ignored;
    acceptor.close(ignored);
    retry.cancel();
  }

  void accept() {
    acceptor.async_accept(asio::make_strand(ioc),
                          [self = shared_from_this()](const error_code& ec, tcp::socket s) {
                            Listener& l = *self;
                            if (ec == asio::error::operation_aborted || !l.acceptor.is_open())
                              return;
                            if (ec) {
                              // Out of descriptors and the like persist; retrying at once would
                              // spin a core.
                              spdlog::warn("http: accept failed: {}", ec.message());
                              l.retry.expires_after(std::chrono::milliseconds(50));
                              l.retry.async_wait([self](const error_code& e) {
                                if (!e && self->acceptor.is_open()) self->accept();
                              });
                              return;
                            }
                            l.on_accept(std::move(s));
                            l.accept();
                          });
  }

  void on_accept(tcp::socket socket) {
    error_code ec;
    if (core->active.load() >= core->options.max_connections || !core->alive.load()) {
      socket.close(ec);
      return;
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto ep = socket.remote_endpoint(ec);
    std::string remote = ec ? "unknown"
                            : (ep.address().is_v6() ? "[" + ep.address().to_string() + "]"
                                                    : ep.address().to_string()) +
                                  ":" + std::to_string(ep.port());
    core->active.fetch_add(1);
    std::shared_ptr<Session> session;
    if (tls) {
      session = std::make_shared<TlsSession>(core, std::move(socket), *tls, std::move(remote));
    } else {
      session = std::make_shared<PlainSession>(core, std::move(socket), std::move(remote));
    }
    asio::dispatch(session->executor(), [session] { session->start(); });
  }
};

}  // namespace

struct IoLoop::Impl {
  asio::io_context ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  std::atomic<bool> running{false};

  void start(int n) {
    work.emplace(ioc.get_executor());
    running.store(true);
    for (int i = 0; i < std::max(1, n); ++i) {
      threads.emplace_back([this] {
        for (;;) {
          try {
            ioc.run();
            return;
          } catch (const std::exception& e) {
            spdlog::error("http: I/O thread caught: {}", e.what());
          }
        }
      });
    }
  }

  void stop() {
    running.store(false);
    work.reset();
    ioc.stop();
    for (auto& t : threads) {
      if (t.joinable()) t.join();
    }
    threads.clear();
  }

  bool in_loop() { return ioc.get_executor().running_in_this_thread(); }
};

IoLoop::IoLoop(int threads) : impl_(std::make_shared<Impl>()) {
  impl_->start(threads);
}

IoLoop::~IoLoop() {
  impl_->stop();
}

int IoLoop::threads() const {
  return static_cast<int>(impl_->threads.size());
}

bool IoLoop::running_in_this_thread() const {
  return impl_->in_loop();
}

struct Server::Impl {
  std::shared_ptr<Core> core = std::make_shared<Core>();
  std::shared_ptr<IoLoop::Impl> loop;  // declared before the listener: outlives it
  bool owned_loop = false;             // started by start(), stopped by stop()
  std::shared_ptr<Listener> listener;
  uint16_t port = 0;
  bool started = false;
  bool stopped = false;
};

Server::Server(ServerOptions options, Handler handler) : impl_(std::make_unique<Impl>()) {
  impl_->core->options = std::move(options);
  impl_->core->handler = std::move(handler);
  impl_->loop = std::make_shared<IoLoop::Impl>();
  impl_->owned_loop = true;
}

Server::Server(ServerOptions options, Handler handler, IoLoop& loop)
    : impl_(std::make_unique<Impl>()) {
  impl_->core->options = std::move(options);
  impl_->core->handler = std::move(handler);
  impl_->loop = loop.impl_;
}

Server::~Server() {
  stop();
}

void Server::start() {
  Impl& m = *impl_;
  if (m.started) throw std::runtime_error("http server already started");
  const ServerOptions& opts = m.core->options;
  auto listener = std::make_shared<Listener>(m.core, m.loop->ioc);
  if (opts.tls) listener->tls = make_server_tls(*opts.tls);
  auto [host, port] = split_listen_address(opts.listen);
  error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  tcp::endpoint ep;
  if (ec) {
    tcp::resolver resolver(m.loop->ioc);
    auto results = resolver.resolve(host, port, ec);
    if (ec || results.empty()) {
      throw std::runtime_error("cannot resolve listen address " + opts.listen + ": " +
                               ec.message());
    }
    ep = *results.begin();
  } else {
    int p = 0;
    try {
      p = std::stoi(port);
    } catch (const std::exception&) {
      p = -1;
    }
    if (p < 0 || p > 65535) throw std::runtime_error("bad port in listen address " + opts.listen);
    ep = tcp::endpoint(addr, static_cast<uint16_t>(p));
  }
  tcp::acceptor& acceptor = listener->acceptor;
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error_code ignored;
    acceptor.close(ignored);
    throw std::runtime_error("cannot listen on " + opts.listen + ": " + ec.message());
  }
  m.port = acceptor.local_endpoint().port();
  m.started = true;
  m.listener = listener;
  // Nothing runs the listener's strand yet when the loop is ours; on a shared loop the first
  // accept is initiated on the strand, where every later one runs.
  if (m.owned_loop) {
    listener->accept();
    m.loop->start(opts.threads);
  } else {
    asio::dispatch(listener->strand, [listener] { listener->accept(); });
  }
}

void Server::stop() {
  Impl& m = *impl_;
  if (!m.started || m.stopped) return;
  m.stopped = true;
  {
    std::unique_lock l(m.core->post_mu);
    m.core->alive.store(false);
  }
  const bool in_loop = m.loop->in_loop();
  const bool running = m.loop->running.load();
  auto listener = m.listener;
  if (running && !in_loop) {
    // On the listener's strand, and waited for: the port is free once stop() returns.
    auto closed = std::make_shared<std::promise<void>>();
    auto done = closed->get_future();
    asio::post(listener->strand, [listener, closed] {
      listener->close();
      closed->set_value();
    });
    done.wait_for(std::chrono::seconds(5));
  } else if (running) {
    asio::post(listener->strand, [listener] { listener->close(); });
  } else {
    listener->close();  // no thread runs the loop: nothing else touches the acceptor
  }
  std::vector<std::shared_ptr<Session>> sessions;
  {
    std::lock_guard l(m.core->sessions_mu);
    for (auto& [ptr, weak] : m.core->sessions) {
      if (auto s = weak.lock()) sessions.push_back(std::move(s));
    }
  }
  for (auto& s : sessions) asio::post(s->executor(), [s] { s->close(); });
  sessions.clear();
  if (running && !in_loop) {
    // Sessions close on their strands (running on_close callbacks); give them a bounded time.
    std::unique_lock l(m.core->sessions_mu);
    m.core->sessions_cv.wait_for(l, std::chrono::seconds(5),
                                 [&] { return m.core->sessions.empty(); });
  }
  if (m.owned_loop) m.loop->stop();
}

uint16_t Server::port() const {
  return impl_->port;
}

}  // namespace k8c::http
