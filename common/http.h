// HTTP/1.1 server and client on Boost.Asio + llhttp, with optional TLS (OpenSSL).
// The server is for the control plane and for metrics endpoints; the ingress proxy has its
// own zero-allocation sessions but shares the limits and parsing rules defined here.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace k8c::http {

struct Header {
  std::string name;
  std::string value;
};

// Case-insensitive lookup; nullptr when absent.
const std::string* find_header(const std::vector<Header>& headers, std::string_view name);

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // raw request target, e.g. "/api/v1/pods?limit=5"
  std::string path;    // percent-decoded path, no query
  std::string query;   // raw query string without '?'
  std::vector<Header> headers;
  std::string body;
  std::string remote;  // "ip:port" of the peer
  // Identity from a client certificate that verified against the server's CA.
  std::optional<std::string> client_cn;  // subject CN
  std::vector<std::string> client_orgs;  // subject O entries

  const std::string* header(std::string_view name) const { return find_header(headers, name); }
};

// Percent-decoded query parameters, in order; a key may repeat.
std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query);
std::string url_decode(std::string_view s);
std::string url_encode(std::string_view s);

struct Response {
  int status = 200;
  std::vector<Header> headers;
  std::string body;
};

std::string_view reason_phrase(int status);

// Whether every byte is an RFC 9110 token character (header names, methods). The llhttp build
// Debian ships tolerates some others in field names; the server and the ingress refuse them.
bool is_token(std::string_view s);

// A listen address "HOST:PORT" split as a listener takes it: brackets around an IPv6 host
// removed, an empty host meaning 0.0.0.0; the port is returned as written. Throws
// std::runtime_error when there is no colon.
std::pair<std::string, std::string> split_listen_address(const std::string& listen);

// Completes one request. Thread-safe: any thread may call it; work is posted to the connection.
// Exactly one of send() or start_stream()...end_stream() per request.
class Responder {
 public:
  virtual ~Responder() = default;
  // A complete response with Content-Length.
  virtual void send(Response response) = 0;
  // A chunked response (watch streams). Chunks are queued and written in order.
  virtual void start_stream(int status, std::vector<Header> headers) = 0;
  virtual void write_chunk(std::shared_ptr<const std::string> data) = 0;
  virtual void end_stream() = 0;
  // True once the peer has gone away or the server is stopping.
  virtual bool closed() const = 0;
  // Called once when the connection closes (peer gone, error, shutdown). Runs on an I/O thread.
  virtual void on_close(std::function<void()> callback) = 0;
  // Bytes queued but not yet written; lets a producer drop a consumer that cannot keep up.
  virtual size_t pending_bytes() const = 0;
};

using Handler = std::function<void(Request& request, std::shared_ptr<Responder> responder)>;

struct TlsServerConfig {
  std::string cert_file;       // PEM chain
  std::string key_file;        // PEM key
  std::string client_ca_file;  // when set, client certificates are requested and verified
};

struct ServerOptions {
  std::string listen = "127.0.0.1:0";  // host:port; port 0 picks a free one
  int threads = 2;
  size_t max_header_bytes = 64 * 1024;      // larger: 431
  size_t max_headers = 100;                 // more: 431
  size_t max_body_bytes = 3 * 1024 * 1024;  // larger: 413
  size_t max_connections = 10000;           // beyond: accepted and closed at once
  std::chrono::milliseconds header_timeout{
      10000};  // for the whole header block; trickling does not extend it
  std::chrono::milliseconds body_timeout{60000};
  std::chrono::milliseconds idle_timeout{120000};  // keep-alive idle between requests
  std::optional<TlsServerConfig> tls;
};

// An I/O loop that several Servers can share: one io_context and the threads that run it. A
// Server built on one (the constructor taking an IoLoop) starts no thread of its own, so a
// process serving many small listeners (the data plane's health-check ports, one per Service)
// needs one thread for all of them instead of one per port.
//
// Stop the Servers built on a loop before destroying it, and destroy it from a thread of its
// own: the destructor stops and joins its threads.
class IoLoop {
 public:
  explicit IoLoop(int threads = 1);  // starts the threads (at least one)
  ~IoLoop();
  IoLoop(const IoLoop&) = delete;
  IoLoop& operator=(const IoLoop&) = delete;

  int threads() const;
  // Whether the calling thread is one of this loop's.
  bool running_in_this_thread() const;

 private:
  friend class Server;
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

class Server {
 public:
  // A server with its own I/O threads (options.threads of them), started by start().
  Server(ServerOptions options, Handler handler);
  // A server on a shared loop: its connections are served by the loop's threads, and
  // options.threads is ignored. The loop must outlive the server's stop().
  Server(ServerOptions options, Handler handler, IoLoop& loop);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts accepting (and, without a shared loop, the I/O threads). Throws
  // std::runtime_error naming the problem (address in use, unreadable certificate, ...).
  void start();
  // Closes the listener and every connection; the port is released when it returns (unless it
  // is called from a thread of the shared loop, which cannot wait for itself).
  void stop();
  uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct ClientOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  bool tls = false;
  std::string ca_file;    // verify the server against this CA (TLS)
  std::string cert_file;  // client certificate (TLS)
  std::string key_file;
  std::string server_name;                   // SNI / verification name; defaults to host
  std::chrono::milliseconds timeout{30000};  // connect and each read
};

// A synchronous client over one keep-alive connection, reconnecting when needed.
// Not thread-safe: use one per thread. Throws std::runtime_error on transport failure.
class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  Response request(std::string_view method, std::string_view target, std::string_view body = {},
                   const std::vector<Header>& headers = {});
  // Streams the response body (chunked or not) to on_data until it returns false or the body
  // ends. Returns the status and headers; the body is delivered only through on_data.
  Response stream(std::string_view method, std::string_view target,
                  const std::vector<Header>& headers,
                  const std::function<bool(std::string_view data)>& on_data);
  // Closes the connection; a stream() in another thread returns with an error.
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace k8c::http
