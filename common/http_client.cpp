// Synchronous HTTP/1.1 client. Each operation runs asynchronously on a private io_context for at
// most `timeout` (Asio's blocking calls cannot time out), which also lets close() from another
// thread wake a blocked read by shutting the socket down.
#include <llhttp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>

// Boost.Asio 1.74 uses std::exchange without including <utility>.
#include <utility>

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <cctype>
#include <mutex>
#include <stdexcept>

#include "common/http.h"

namespace k8c::http {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

bool idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" ||
         method == "OPTIONS";
}

bool is_ip(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// A transport failure where the server cannot have produced a response: retrying an
// idempotent request on a fresh connection is safe.
struct StaleConnection : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Parses one response; body bytes go to `on_data` when set, else into the response.
struct ResponseParser {
  llhttp_t parser;
  llhttp_settings_t settings;
  Response* response = nullptr;
  const std::function<bool(std::string_view)>* on_data = nullptr;
  bool head = false;
  bool new_field = true;
  bool complete = false;
  bool stopped = false;  // on_data asked to stop
  bool any_bytes = false;

  ResponseParser(Response* r, bool is_head, const std::function<bool(std::string_view)>* cb)
      : response(r), on_data(cb), head(is_head) {
    llhttp_settings_init(&settings);
    settings.on_message_begin = [](llhttp_t* p) {
      auto* self = static_cast<ResponseParser*>(p->data);
      self->response->headers.clear();
      self->new_field = true;
      return 0;
    };
    settings.on_header_field = [](llhttp_t* p, const char* at, size_t n) {
      auto* self = static_cast<ResponseParser*>(p->data);
      if (self->new_field) self->response->headers.emplace_back();
      self->new_field = false;
      self->response->headers.back().name.append(at, n);
      return 0;
    };
    settings.on_header_value = [](llhttp_t* p, const char* at, size_t n) {
      static_cast<ResponseParser*>(p->data)->response->headers.back().value.append(at, n);
      return 0;
    };
    settings.on_header_value_complete = [](llhttp_t* p) {
      static_cast<ResponseParser*>(p->data)->new_field = true;
      return 0;
    };
    settings.on_headers_complete = [](llhttp_t* p) {
      auto* self = static_cast<ResponseParser*>(p->data);
      self->response->status = p->status_code;
      // A HEAD response announces a length it never sends.
      return self->head ? 1 : 0;
    };
    settings.on_body = [](llhttp_t* p, const char* at, size_t n) {
      auto* self = static_cast<ResponseParser*>(p->data);
      if (self->on_data) {
        if (!(*self->on_data)(std::string_view(at, n))) {
          self->stopped = true;
          return static_cast<int>(HPE_USER);
        }
      } else {
        self->response->body.append(at, n);
      }
      return 0;
    };
    settings.on_message_complete = [](llhttp_t* p) {
      auto* self = static_cast<ResponseParser*>(p->data);
      // Interim 1xx responses precede the real one.
      if (p->status_code >= 100 && p->status_code < 200 && p->status_code != 101) return 0;
      self->complete = true;
      return static_cast<int>(HPE_PAUSED);
    };
    llhttp_init(&parser, HTTP_RESPONSE, &settings);
    parser.data = this;
  }
  ResponseParser(const ResponseParser&) = delete;
  ResponseParser& operator=(const ResponseParser&) = delete;
};

}  // namespace

struct Client::Impl {
  ClientOptions opts;
  asio::io_context ioc;
  std::unique_ptr<ssl::context> tls_ctx;
  std::unique_ptr<tcp::socket> plain;
  std::unique_ptr<ssl::stream<tcp::socket>> tls;
  std::mutex fd_mu;  // socket open/close vs. close() from another thread
  std::atomic<bool> interrupted{false};
  bool fresh = false;
  std::array<char, 16 * 1024> buf;

  explicit Impl(ClientOptions o) : opts(std::move(o)) {
    if (opts.server_name.empty()) opts.server_name = opts.host;
  }

  bool connected() const { return plain || tls; }
  tcp::socket& lowest() { return tls ? tls->next_layer() : *plain; }

  void disconnect() {
    std::lock_guard l(fd_mu);
    error_code ignored;
    if (connected()) {
      lowest().shutdown(tcp::socket::shutdown_both, ignored);
      lowest().close(ignored);
    }
    // Run aborted handlers so the io_context holds nothing that points into the sockets.
    ioc.restart();
    ioc.poll();
    tls.reset();
    plain.reset();
  }

  // Runs one asynchronous operation to completion or until the timeout.
  template <class Start>
  size_t run(Start start, const char* what) {
    bool done = false;
    error_code result;
    size_t bytes = 0;
    ioc.restart();
    start([&](const error_code& ec, size_t n) {
      done = true;
      result = ec;
      bytes = n;
    });
    ioc.run_for(opts.timeout);
    if (!done) {
      {
        std::lock_guard l(fd_mu);
        error_code ignored;
        if (connected()) lowest().close(ignored);
      }
      ioc.restart();
      ioc.run();
      disconnect();
      throw std::runtime_error(std::string("http: timeout while ") + what + " " + opts.host + ":" +
                               std::to_string(opts.port));
    }
    if (result) throw boost::system::system_error(result);
    return bytes;
  }

  void ensure_tls_ctx() {
    if (tls_ctx) return;
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    ctx->set_verify_mode(ssl::verify_peer);
    if (!opts.ca_file.empty()) {
      if (SSL_CTX_load_verify_locations(native, opts.ca_file.c_str(), nullptr) != 1) {
        throw std::runtime_error("http: cannot load CA file " + opts.ca_file);
      }
    } else {
      SSL_CTX_set_default_verify_paths(native);
    }
    if (!opts.cert_file.empty()) {
      if (SSL_CTX_use_certificate_chain_file(native, opts.cert_file.c_str()) != 1) {
        throw std::runtime_error("http: cannot load client certificate " + opts.cert_file);
      }
      const std::string& key = opts.key_file.empty() ? opts.cert_file : opts.key_file;
      if (SSL_CTX_use_PrivateKey_file(native, key.c_str(), SSL_FILETYPE_PEM) != 1) {
        throw std::runtime_error("http: cannot load client key " + key);
      }
    }
    ERR_clear_error();
    tls_ctx = std::move(ctx);
  }

  void connect() {
    disconnect();
    if (opts.tls) ensure_tls_ctx();
    tcp::resolver resolver(ioc);
    error_code ec;
    auto endpoints = resolver.resolve(opts.host, std::to_string(opts.port), ec);
    if (ec) throw std::runtime_error("http: cannot resolve " + opts.host + ": " + ec.message());
    {
      std::lock_guard l(fd_mu);
      if (opts.tls) {
        tls = std::make_unique<ssl::stream<tcp::socket>>(ioc, *tls_ctx);
      } else {
        plain = std::make_unique<tcp::socket>(ioc);
      }
    }
    interrupted = false;
    try {
      run(
          [&](auto handler) {
            asio::async_connect(
                lowest(), endpoints,
                [handler](const error_code& e, const tcp::endpoint&) mutable { handler(e, 0); });
          },
          "connecting to");
      error_code ignored;
      lowest().set_option(tcp::no_delay(true), ignored);
      if (tls) {
        SSL* ssl = tls->native_handle();
        const std::string& name = opts.server_name;
        if (!is_ip(name)) SSL_set_tlsext_host_name(ssl, name.c_str());
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        if (is_ip(name)) {
          X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
        } else {
          X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
          X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
        }
        static const unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
        SSL_set_alpn_protos(ssl, kAlpn, sizeof kAlpn);
        run(
            [&](auto handler) {
              tls->async_handshake(ssl::stream_base::client,
                                   [handler](const error_code& e) mutable { handler(e, 0); });
            },
            "TLS handshake with");
      }
    } catch (const boost::system::system_error& e) {
      disconnect();
      throw std::runtime_error("http: cannot connect to " + opts.host + ":" +
                               std::to_string(opts.port) + ": " + e.code().message());
    }
    fresh = true;
  }

  // A pooled connection the server already closed shows up as readable (EOF).
  bool looks_stale() {
    if (interrupted) return true;
    pollfd pfd{lowest().native_handle(), POLLIN, 0};
    return ::poll(&pfd, 1, 0) != 0;
  }

  void write_all(const std::string& data) {
    run(
        [&](auto handler) {
          if (tls) {
            asio::async_write(*tls, asio::buffer(data), handler);
          } else {
            asio::async_write(*plain, asio::buffer(data), handler);
          }
        },
        "writing to");
  }

  size_t read_some() {
    return run(
        [&](auto handler) {
          if (tls) {
            tls->async_read_some(asio::buffer(buf), handler);
          } else {
            plain->async_read_some(asio::buffer(buf), handler);
          }
        },
        "reading from");
  }

  std::string serialize(std::string_view method, std::string_view target, std::string_view body,
                        const std::vector<Header>& headers) {
    std::string out;
    out.reserve(256 + body.size());
    out.append(method).append(" ").append(target.empty() ? "/" : target).append(" HTTP/1.1\r\n");
    if (!find_header(headers, "Host")) {
      out.append("Host: ").append(opts.server_name);
      if (!((opts.tls && opts.port == 443) || (!opts.tls && opts.port == 80))) {
        out.append(":").append(std::to_string(opts.port));
      }
      out.append("\r\n");
    }
    for (const auto& h : headers) {
      if (h.name.empty()) continue;
      out.append(h.name).append(": ").append(h.value).append("\r\n");
    }
    bool needs_length = !body.empty() || method == "POST" || method == "PUT" || method == "PATCH";
    if (needs_length && !find_header(headers, "Content-Length")) {
      out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
    }
    out.append("\r\n");
    out.append(body);
    return out;
  }

  Response exchange(std::string_view method, std::string_view target, std::string_view body,
                    const std::vector<Header>& headers,
                    const std::function<bool(std::string_view)>* on_data) {
    std::string wire = serialize(method, target, body, headers);
    for (int attempt = 0;; ++attempt) {
      if (connected() && looks_stale()) disconnect();
      if (!connected()) connect();
      bool reused = !fresh;
      fresh = false;
      Response response;
      ResponseParser parser(&response, method == "HEAD", on_data);
      try {
        try {
          write_all(wire);
        } catch (const boost::system::system_error& e) {
          throw StaleConnection(e.code().message());
        }
        read_response(parser);
      } catch (const StaleConnection& e) {
        disconnect();
        if (attempt == 0 && reused && idempotent(method) && !interrupted) continue;
        throw std::runtime_error("http: " + std::string(method) + " " + std::string(target) +
                                 ": connection lost: " + e.what());
      } catch (...) {
        disconnect();
        throw;
      }
      if (parser.stopped || !llhttp_should_keep_alive(&parser.parser)) disconnect();
      return response;
    }
  }

  void read_response(ResponseParser& p) {
    for (;;) {
      size_t n = 0;
      bool eof = false;
      try {
        n = read_some();
      } catch (const boost::system::system_error& e) {
        if (!p.any_bytes) throw StaleConnection(e.code().message());
        if (e.code() != asio::error::eof && e.code() != ssl::error::stream_truncated) {
          throw std::runtime_error("http: reading response: " + e.code().message());
        }
        eof = true;
      }
      if (eof) {
        // A body delimited by the end of the connection is complete; anything else is cut off.
        if (llhttp_finish(&p.parser) == HPE_OK && p.complete) return;
        if (p.complete) return;
        throw std::runtime_error("http: connection closed before the response ended");
      }
      p.any_bytes = true;
      llhttp_errno_t err = llhttp_execute(&p.parser, buf.data(), n);
      if (err == HPE_PAUSED && p.complete) {
        // Bytes after the response mean the connection is out of step; do not reuse it.
        size_t used = static_cast<size_t>(llhttp_get_error_pos(&p.parser) - buf.data());
        if (used != n) disconnect();
        return;
      }
      if (err == HPE_USER && p.stopped) return;
      if (err != HPE_OK) {
        throw std::runtime_error(std::string("http: malformed response: ") +
                                 llhttp_errno_name(err));
      }
    }
  }
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Client::~Client() {
  if (impl_) impl_->disconnect();
}

Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

Response Client::request(std::string_view method, std::string_view target, std::string_view body,
                         const std::vector<Header>& headers) {
  return impl_->exchange(method, target, body, headers, nullptr);
}

Response Client::stream(std::string_view method, std::string_view target,
                        const std::vector<Header>& headers,
                        const std::function<bool(std::string_view data)>& on_data) {
  return impl_->exchange(method, target, {}, headers, &on_data);
}

void Client::close() {
  if (!impl_) return;
  std::lock_guard l(impl_->fd_mu);
  impl_->interrupted = true;
  if (impl_->connected()) {
    // shutdown(2) is safe against a read blocked in another thread and wakes it with EOF; the
    // owning thread closes the descriptor itself.
    ::shutdown(impl_->lowest().native_handle(), SHUT_RDWR);
  }
}

}  // namespace k8c::http
