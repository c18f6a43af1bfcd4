// Server-side TLS over a TCP socket for the proxy's coroutines, without Asio's BIO pair.
//
// asio::ssl::stream moves every record through a memory BIO pair (socket -> its input buffer ->
// BIO_write -> the SSL; the SSL -> BIO_read -> its output buffer -> socket), sends each buffer
// of a gather write as its own record and its own send, and asks OpenSSL to free its record
// buffers after every record (SSL_MODE_RELEASE_BUFFERS: a malloc and a free per record). Here
// the SSL's BIO reads from and writes to this object's own buffers directly, a write of several
// buffers that fit one record (a response head and a small body) is one record and one send,
// and OpenSSL keeps its buffers for the life of the connection.
//
// Use from one thread (the worker's). At most one read_some and one write may be in flight at
// once (a tunnel reads and writes concurrently); a handshake runs alone. Errors come back as
// error codes: eof when the peer closed (with or without close_notify), an SSL category error
// for broken TLS. No close_notify is sent: the proxy closes the TCP connection, as it did with
// asio::ssl::stream.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <memory>
#include <string_view>

#include "ingress/coro.h"

namespace k8c::ingress {

class TlsSocket {
 public:
  // Takes the connected socket; the SSL is created from `ctx` (an SNI callback on it may
  // switch the context during the handshake). Throws std::bad_alloc when OpenSSL cannot
  // allocate the SSL.
  TlsSocket(boost::asio::ip::tcp::socket socket, SSL_CTX* ctx);
  ~TlsSocket();
  TlsSocket(const TlsSocket&) = delete;
  TlsSocket& operator=(const TlsSocket&) = delete;

  boost::asio::ip::tcp::socket& socket() { return socket_; }
  SSL* native_handle() { return ssl_; }

  // Server handshake. On failure the alert OpenSSL produced (e.g. unrecognized_name) is sent
  // before returning.
  coro::Task<void> handshake(boost::system::error_code& ec);
  // Up to buf.size() bytes of plaintext (at least one unless ec is set).
  coro::Task<size_t> read_some(boost::asio::mutable_buffer buf, boost::system::error_code& ec);
  // Writes all of a then b: one record and one send when they fit one record (16 KiB),
  // otherwise full records, several per send. Returns the plaintext bytes written.
  coro::Task<size_t> write(std::string_view a, std::string_view b, boost::system::error_code& ec);

  // Records per send and sends, for tests (counted since construction).
  size_t records_written() const { return records_; }
  size_t sends() const { return sends_; }

  // Sizes of the ciphertext buffers: input holds at least one full record, output two.
  static constexpr size_t kInSize = 17 * 1024;
  static constexpr size_t kOutSize = 34 * 1024;
  static constexpr size_t kMaxPlainRecord = 16 * 1024;

 private:
  static int bio_write(BIO* b, const char* data, int len);
  static int bio_read(BIO* b, char* data, int len);
  static long bio_ctrl(BIO* b, int cmd, long num, void* ptr);
  static BIO_METHOD* bio_method();

  // Sends every ciphertext byte queued in out_. Waits for the other coroutine's send first
  // when one is in flight. False with ec set on failure.
  coro::Task<bool> flush(boost::system::error_code& ec);
  // Reads more ciphertext from the socket into in_. False with ec set on failure or EOF.
  coro::Task<bool> fill(boost::system::error_code& ec);
  // Encrypts one record's worth (at most kMaxPlainRecord bytes) into out_, flushing first when
  // out_ could not hold it. False with ec set on failure.
  coro::Task<bool> write_record(const char* data, size_t len, boost::system::error_code& ec);
  // The error code for a failed SSL call that returned `ret`.
  boost::system::error_code ssl_error(int ret) const;

  boost::asio::ip::tcp::socket socket_;
  SSL* ssl_ = nullptr;
  std::unique_ptr<char[]> in_;
  size_t in_beg_ = 0, in_end_ = 0;
  std::unique_ptr<char[]> out_;
  size_t out_len_ = 0;
  bool sending_ = false;                 // a flush's async_write is in flight
  bool send_waiter_ = false;             // someone waits on send_done_
  boost::asio::steady_timer send_done_;  // never expires; cancelled when a send completes
  size_t records_ = 0;
  size_t sends_ = 0;
};

}  // namespace k8c::ingress
