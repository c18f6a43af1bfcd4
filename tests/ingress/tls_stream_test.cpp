// TlsSocket (the proxy's TLS without Asio's BIO pair) against an asio::ssl::stream client, both
// in one io_context driven by the proxy's coroutines.
#include "ingress/tls_stream.h"

#include <gtest/gtest.h>
#include <openssl/err.h>

// Boost.Asio 1.74 uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <string>

#include "common/pki.h"
#include "ingress/tls_context.h"

namespace k8c::ingress {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using coro::ec_token;
using coro::spawn;
using coro::Task;
using Client = ssl::stream<tcp::socket>;

std::string pattern(size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + seed) % 26);
  return s;
}

class TlsSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = pki::make_ca("test-ca");
    auto pair = pki::issue(ca, "tls.example.com", {}, {"tls.example.com"}, true);
    std::string error;
    server_ctx_ = make_tls_context(pair.cert_pem, pair.key_pem, &error);
    ASSERT_TRUE(server_ctx_) << error;
    acceptor_.open(tcp::v4());
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    client_ctx_.set_verify_mode(ssl::verify_none);
  }

  // Connects a client and accepts the server side; neither has done its handshake.
  void connect() {
    client_.emplace(io_, client_ctx_);
    SSL_set_tlsext_host_name(client_->native_handle(), "tls.example.com");
    client_->next_layer().connect(acceptor_.local_endpoint());
    server_.emplace(acceptor_.accept(), server_ctx_.get());
  }

  // Runs both handshakes to their end.
  void handshakes(error_code& server_ec, error_code& client_ec) {
    spawn([](TlsSocket& s, error_code& ec) -> Task<void> { co_await s.handshake(ec); }(*server_,
                                                                                       server_ec));
    spawn([](Client& c, error_code& ec) -> Task<void> {
      co_await c.async_handshake(ssl::stream_base::client, ec_token(ec));
    }(*client_, client_ec));
    run();
  }

  // Both handshakes; true when both succeeded.
  bool handshake() {
    error_code server_ec, client_ec;
    handshakes(server_ec, client_ec);
    EXPECT_FALSE(server_ec) << server_ec.message();
    EXPECT_FALSE(client_ec) << client_ec.message();
    return !server_ec && !client_ec;
  }

  void run() {
    io_.restart();
    io_.run();
  }

  // The client reads until it holds `n` bytes or fails.
  static Task<void> client_read(Client& c, size_t n, std::string& out, error_code& ec) {
    char buf[8192];
    while (out.size() < n) {
      size_t got = co_await c.async_read_some(asio::buffer(buf), ec_token(ec));
      if (ec) co_return;
      out.append(buf, got);
    }
  }

  asio::io_context io_;
  SslCtxPtr server_ctx_;
  ssl::context client_ctx_{ssl::context::tls_client};
  tcp::acceptor acceptor_{io_};
  std::optional<Client> client_;
  std::optional<TlsSocket> server_;
};

TEST_F(TlsSocketTest, HeadAndSmallBodyAreOneRecordAndOneSend) {
  connect();
  ASSERT_TRUE(handshake());
  size_t sends_before = server_->sends();
  std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n";
  error_code ec, cec;
  size_t written = 0;
  spawn([](TlsSocket& s, std::string_view a, size_t& n, error_code& ec) -> Task<void> {
    n = co_await s.write(a, "hello\n", ec);
  }(*server_, head, written, ec));
  // One record arrives whole in one read.
  std::string got;
  spawn([](Client& c, std::string& out, error_code& ec) -> Task<void> {
    char buf[4096];
    size_t n = co_await c.async_read_some(asio::buffer(buf), ec_token(ec));
    out.assign(buf, n);
  }(*client_, got, cec));
  run();
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_FALSE(cec) << cec.message();
  EXPECT_EQ(written, head.size() + 6);
  EXPECT_EQ(got, head + "hello\n");
  EXPECT_EQ(server_->records_written(), 1u);
  EXPECT_EQ(server_->sends() - sends_before, 1u);
}

TEST_F(TlsSocketTest, LargeWritesAreSplitIntoFullRecords) {
  connect();
  ASSERT_TRUE(handshake());
  std::string head = pattern(100, 1);
  std::string body = pattern(40000, 2);
  error_code ec, cec;
  spawn([](TlsSocket& s, std::string_view a, std::string_view b, error_code& ec) -> Task<void> {
    co_await s.write(a, b, ec);
  }(*server_, head, body, ec));
  std::string got;
  spawn(client_read(*client_, head.size() + body.size(), got, cec));
  run();
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_FALSE(cec) << cec.message();
  EXPECT_EQ(got, head + body);
  // 100 + 16284 bytes, then 16384, then the 7332 left.
  EXPECT_EQ(server_->records_written(), 3u);
}

TEST_F(TlsSocketTest, EchoesAMegabyteInBothDirections) {
  connect();
  ASSERT_TRUE(handshake());
  const std::string data = pattern(1 << 20, 3);
  error_code sec, cec_w, cec_r;
  // Server: echo everything back until the client closes.
  spawn([](TlsSocket& s, error_code& ec) -> Task<void> {
    char buf[16384];
    for (;;) {
      size_t n = co_await s.read_some(asio::buffer(buf), ec);
      if (ec) co_return;
      co_await s.write({buf, n}, {}, ec);
      if (ec) co_return;
    }
  }(*server_, sec));
  std::string echoed;
  spawn([](Client& c, const std::string& d, error_code& ec) -> Task<void> {
    co_await asio::async_write(c, asio::buffer(d), ec_token(ec));
  }(*client_, data, cec_w));
  spawn([](Client& c, size_t n, std::string& out, error_code& ec) -> Task<void> {
    co_await client_read(c, n, out, ec);
    // Closing the TCP connection without close_notify ends the server's read with an error.
    error_code ignored;
    c.next_layer().close(ignored);
  }(*client_, data.size(), echoed, cec_r));
  run();
  EXPECT_FALSE(cec_w) << cec_w.message();
  EXPECT_FALSE(cec_r) << cec_r.message();
  EXPECT_TRUE(echoed == data) << "echoed " << echoed.size() << " of " << data.size() << " bytes";
  EXPECT_TRUE(sec) << "the server's read should fail once the client is gone";
}

TEST_F(TlsSocketTest, ConcurrentReadAndWriteLikeATunnel) {
  connect();
  ASSERT_TRUE(handshake());
  const std::string up = pattern(300000, 4);
  const std::string down = pattern(300000, 5);
  error_code s_read_ec, s_write_ec, c_write_ec, c_read_ec;
  std::string server_got, client_got;
  // The server reads everything the client sends while it sends its own stream.
  spawn([](TlsSocket& s, size_t n, std::string& out, error_code& ec) -> Task<void> {
    char buf[10000];
    while (out.size() < n) {
      size_t got = co_await s.read_some(asio::buffer(buf), ec);
      if (ec) co_return;
      out.append(buf, got);
    }
  }(*server_, up.size(), server_got, s_read_ec));
  spawn([](TlsSocket& s, std::string_view d, error_code& ec) -> Task<void> {
    // Several writes, so reads interleave with them.
    while (!d.empty() && !ec) {
      size_t n = std::min<size_t>(d.size(), 50000);
      co_await s.write(d.substr(0, n), {}, ec);
      d.remove_prefix(n);
    }
  }(*server_, down, s_write_ec));
  spawn([](Client& c, const std::string& d, error_code& ec) -> Task<void> {
    co_await asio::async_write(c, asio::buffer(d), ec_token(ec));
  }(*client_, up, c_write_ec));
  spawn(client_read(*client_, down.size(), client_got, c_read_ec));
  run();
  EXPECT_FALSE(s_read_ec) << s_read_ec.message();
  EXPECT_FALSE(s_write_ec) << s_write_ec.message();
  EXPECT_FALSE(c_write_ec) << c_write_ec.message();
  EXPECT_FALSE(c_read_ec) << c_read_ec.message();
  EXPECT_TRUE(server_got == up) << server_got.size();
  EXPECT_TRUE(client_got == down) << client_got.size();
}

TEST_F(TlsSocketTest, CloseNotifyIsEof) {
  connect();
  ASSERT_TRUE(handshake());
  error_code sec, cec;
  spawn([](TlsSocket& s, Client& c, error_code& ec) -> Task<void> {
    char buf[100];
    co_await s.read_some(asio::buffer(buf), ec);
    // The client's shutdown waits for our close_notify, which the proxy never sends.
    error_code ignored;
    c.next_layer().close(ignored);
  }(*server_, *client_, sec));
  spawn([](Client& c, error_code& ec) -> Task<void> { co_await c.async_shutdown(ec_token(ec)); }(
                                          *client_, cec));
  run();
  EXPECT_EQ(sec, asio::error::eof) << sec.message();
}

TEST_F(TlsSocketTest, RefusedHandshakeSendsTheAlert) {
  SSL_CTX_set_tlsext_servername_callback(
      server_ctx_.get(), +[](SSL*, int* alert, void*) -> int {
        *alert = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
      });
  connect();
  error_code server_ec, client_ec;
  handshakes(server_ec, client_ec);
  EXPECT_TRUE(server_ec);
  ASSERT_TRUE(client_ec);
  EXPECT_EQ(client_ec.category(), asio::error::get_ssl_category()) << client_ec.message();
  EXPECT_EQ(ERR_GET_REASON(static_cast<unsigned long>(client_ec.value())),
            SSL_R_TLSV1_UNRECOGNIZED_NAME)
      << client_ec.message();
}

TEST_F(TlsSocketTest, GarbageInsteadOfTlsIsAnError) {
  tcp::socket raw(io_);
  raw.connect(acceptor_.local_endpoint());
  server_.emplace(acceptor_.accept(), server_ctx_.get());
  asio::write(raw, asio::buffer(std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n")));
  error_code ec;
  spawn([](TlsSocket& s, error_code& ec) -> Task<void> { co_await s.handshake(ec); }(*server_, ec));
  run();
  EXPECT_TRUE(ec);
  EXPECT_EQ(ec.category(), asio::error::get_ssl_category()) << ec.message();
}

}  // namespace
}  // namespace k8c::ingress
