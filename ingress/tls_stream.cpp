#include "ingress/tls_stream.h"

#include <openssl/err.h>

// Boost.Asio 1.74 uses std::exchange without including <utility>.
#include <utility>

#include <algorithm>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <new>

#include "ingress/read_buffer.h"

namespace k8c::ingress {

namespace asio = boost::asio;
using boost::system::error_code;
using coro::ec_token;
using coro::Task;

// Room a record needs in out_ beyond its plaintext: header, explicit nonce or inner content
// type, tag, with margin.
constexpr size_t kRecordOverhead = 256;
static_assert(TlsSocket::kOutSize >= TlsSocket::kMaxPlainRecord + kRecordOverhead);

BIO_METHOD* TlsSocket::bio_method() {
  // Built once per process (C++ guarantees one initialisation), never freed.
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "k8c-tls-socket");
    if (!m) return m;
    BIO_meth_set_write(m, &TlsSocket::bio_write);
    BIO_meth_set_read(m, &TlsSocket::bio_read);
    BIO_meth_set_ctrl(m, &TlsSocket::bio_ctrl);
    return m;
  }();
  return method;
}

// OpenSSL writes ciphertext: it goes to out_ as far as it fits; the rest is retried after a
// flush (SSL_write then reports SSL_ERROR_WANT_WRITE).
int TlsSocket::bio_write(BIO* b, const char* data, int len) {
  auto* self = static_cast<TlsSocket*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  size_t room = kOutSize - self->out_len_;
  size_t n = std::min(room, static_cast<size_t>(len));
  if (n == 0) {
    BIO_set_retry_write(b);
    return -1;
  }
  std::memcpy(self->out_.get() + self->out_len_, data, n);
  self->out_len_ += n;
  return static_cast<int>(n);
}

// OpenSSL wants ciphertext: what in_ holds, or "retry" when it is empty (the coroutine then reads
// the socket).
int TlsSocket::bio_read(BIO* b, char* data, int len) {
  auto* self = static_cast<TlsSocket*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  size_t n = std::min(self->in_end_ - self->in_beg_, static_cast<size_t>(len));
  if (n == 0) {
    BIO_set_retry_read(b);
    return -1;
  }
  std::memcpy(data, self->in_.get() + self->in_beg_, n);
  self->in_beg_ += n;
  return static_cast<int>(n);
}

long TlsSocket::bio_ctrl(BIO* /*b*/, int cmd, long /*num*/, void* /*ptr*/) {
  // OpenSSL flushes after each flight; our flush is the coroutine's. Other controls (pending
  // byte counts, DTLS, ...) are not supported.
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

TlsSocket::TlsSocket(asio::ip::tcp::socket socket, SSL_CTX* ctx)
    : socket_(std::move(socket)),
      in_(new char[kInSize]),
      out_(new char[kOutSize]),
      send_done_(socket_.get_executor(), asio::steady_timer::time_point::max()) {
  BIO_METHOD* method = bio_method();
  ssl_ = method ? SSL_new(ctx) : nullptr;
  BIO* bio = ssl_ ? BIO_new(method) : nullptr;
  if (!bio) {
    if (ssl_) SSL_free(ssl_);
    throw std::bad_alloc();
  }
  BIO_set_data(bio, this);
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl_, bio, bio);  // the SSL owns the BIO
  // A write retried after WANT_WRITE may come from another address: its record is already
  // encrypted, only its sending is pending.
  SSL_set_mode(ssl_, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_set_accept_state(ssl_);
}

TlsSocket::~TlsSocket() {
  SSL_free(ssl_);
}

// The thread's OpenSSL error queue must be empty when SSL_read/SSL_write fail, or SSL_get_error
// blames a stale error. Clearing it before every call costs as much as a tenth of a small
// request's TLS work (a thread-local lookup), so instead every failure here drains it, the
// handshake starts from a clean queue, and nothing else on a worker thread leaves errors behind
// (the SNI callback's context loading clears its own).
error_code TlsSocket::ssl_error(int ret) const {
  int err = SSL_get_error(ssl_, ret);
  if (err == SSL_ERROR_ZERO_RETURN) return asio::error::eof;  // close_notify
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e) return {static_cast<int>(e), asio::error::get_ssl_category()};
  return asio::ssl::error::stream_truncated;
}

Task<bool> TlsSocket::flush(error_code& ec) {
  while (out_len_ > 0) {
    if (sending_) {
      // The other coroutine's send is in flight; it loops until out_ is empty, including what
      // we added, so waiting for it is enough.
      send_waiter_ = true;
      error_code ignored;
      co_await send_done_.async_wait(ec_token(ignored));
      continue;
    }
    sending_ = true;
    size_t len = out_len_;
    co_await asio::async_write(socket_, asio::buffer(out_.get(), len), ec_token(ec));
    sending_ = false;
    ++sends_;
    if (send_waiter_) {
      send_waiter_ = false;
      send_done_.cancel();
    }
    if (ec) co_return false;
    // Records encrypted while the send was in flight were appended behind it.
    std::memmove(out_.get(), out_.get() + len, out_len_ - len);
    out_len_ -= len;
  }
  co_return true;
}

Task<bool> TlsSocket::fill(error_code& ec) {
  make_room(in_.get(), kInSize, in_beg_, in_end_);
  if (in_end_ == kInSize) {
    // OpenSSL asks for more only once it took everything here (a record fits in_), so this
    // cannot happen; a zero-sized read would complete at once and spin.
    ec = asio::error::no_buffer_space;
    co_return false;
  }
  size_t n = co_await socket_.async_read_some(asio::buffer(in_.get() + in_end_, kInSize - in_end_),
                                              ec_token(ec));
  if (ec) co_return false;
  in_end_ += n;
  co_return true;
}

Task<void> TlsSocket::handshake(error_code& ec) {
  ec = {};
  for (;;) {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl_);
    if (r == 1) {
      co_await flush(ec);
      co_return;
    }
    int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (out_len_ > 0 && !co_await flush(ec)) co_return;
      if (err == SSL_ERROR_WANT_READ && !co_await fill(ec)) co_return;
      continue;
    }
    ec = ssl_error(r);
    // The alert says why (unknown name, no shared cipher, ...); the peer may have gone.
    error_code ignored;
    if (out_len_ > 0) co_await flush(ignored);
    co_return;
  }
}

Task<size_t> TlsSocket::read_some(asio::mutable_buffer buf, error_code& ec) {
  ec = {};
  if (buf.size() == 0) co_return 0;
  for (;;) {
    size_t n = 0;
    int r = SSL_read_ex(ssl_, buf.data(), buf.size(), &n);
    if (r == 1) {
      // Reading may have queued an answer (a TLS 1.3 KeyUpdate); a send in flight takes it.
      if (out_len_ > 0 && !sending_ && !co_await flush(ec)) co_return 0;
      co_return n;
    }
    int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (out_len_ > 0 && !sending_ && !co_await flush(ec)) co_return 0;
      if (err == SSL_ERROR_WANT_WRITE) {
        if (!co_await flush(ec)) co_return 0;
      } else if (!co_await fill(ec)) {
        co_return 0;
      }
      continue;
    }
    ec = ssl_error(r);
    co_return 0;
  }
}

Task<bool> TlsSocket::write_record(const char* data, size_t len, error_code& ec) {
  if (kOutSize - out_len_ < len + kRecordOverhead && !co_await flush(ec)) co_return false;
  for (;;) {
    size_t n = 0;
    int r = SSL_write_ex(ssl_, data, len, &n);
    if (r == 1) {
      ++records_;
      co_return true;
    }
    int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
      // out_ was full (the record stays encrypted inside the SSL until we retry), or a
      // renegotiation-like state wants input: neither happens with the room checked above
      // unless the peer misbehaves.
      if (!co_await flush(ec)) co_return false;
      if (err == SSL_ERROR_WANT_READ && !co_await fill(ec)) co_return false;
      continue;
    }
    ec = ssl_error(r);
    co_return false;
  }
}

Task<size_t> TlsSocket::write(std::string_view a, std::string_view b, error_code& ec) {
  ec = {};
  // Per thread, and only read by SSL_write before it returns: a record written from it is
  // complete inside the SSL even when its sending has to wait.
  static thread_local char gather[kMaxPlainRecord];
  size_t total = a.size() + b.size();
  if (a.empty()) std::swap(a, b);
  while (!a.empty()) {
    if (a.size() < kMaxPlainRecord && !b.empty()) {
      // The tail of a and the head of b share a record.
      size_t from_b = std::min(b.size(), kMaxPlainRecord - a.size());
      std::memcpy(gather, a.data(), a.size());
      std::memcpy(gather + a.size(), b.data(), from_b);
      if (!co_await write_record(gather, a.size() + from_b, ec)) co_return 0;
      a = b.substr(from_b);
      b = {};
      continue;
    }
    size_t len = std::min(a.size(), kMaxPlainRecord);
    if (!co_await write_record(a.data(), len, ec)) co_return 0;
    a.remove_prefix(len);
    if (a.empty()) std::swap(a, b);
  }
  if (!co_await flush(ec)) co_return 0;
  co_return total;
}

}  // namespace k8c::ingress
