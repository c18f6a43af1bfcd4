// An llhttp wrapper for the proxy: collects one message's request target and headers into buffers
// that are reused across messages (no allocation once they have grown), enforces header limits,
// and streams body bytes into a caller-owned sink, optionally re-framed as chunks.
//
// llhttp runs in its default strict mode: Content-Length together with Transfer-Encoding,
// duplicate Content-Length, a Transfer-Encoding whose last coding is not exactly "chunked"
// (including "chunked,") and bare LF line ends are errors. Feeding pauses after the header block
// of a request (so the proxy can route and set the body limit before any body byte is parsed)
// and after every message (so pipelined requests wait for the response before them).
#pragma once

#include <llhttp.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace k8c::ingress {

struct HeaderRef {
  uint32_t name_off = 0;
  uint32_t name_len = 0;
  uint32_t value_off = 0;
  uint32_t value_len = 0;
};

class HttpParser {
 public:
  enum class Event { kNeedMore, kHeaders, kMessage, kError };

  HttpParser(llhttp_type_t type, size_t max_header_bytes, size_t max_headers);
  HttpParser(const HttpParser&) = delete;
  HttpParser& operator=(const HttpParser&) = delete;

  // Forgets any state, ready for a new message stream (e.g. a new upstream response).
  void reset();

  // Parses up to `n` bytes; *consumed says how many were used. kHeaders and kMessage mean
  // parsing paused there; call feed() again with the rest.
  Event feed(const char* data, size_t n, size_t* consumed);
  // The peer closed: completes a read-until-close body. kMessage, or kError when truncated.
  Event finish();

  // Request side: pause after the header block. Response side: do not (the proxy writes the
  // head and the first body bytes in one go).
  void set_pause_after_headers(bool pause) { pause_after_headers_ = pause; }
  // Responses to HEAD have no body whatever their headers say.
  void set_skip_body(bool skip) { skip_body_ = skip; }

  // Body destination for the next feed() calls; null drops body bytes. With `chunked`, each
  // piece is framed as an HTTP chunk and the last-chunk is appended at message end.
  void set_body_sink(std::string* sink, bool chunked) {
    sink_ = sink;
    sink_chunked_ = chunked;
  }
  // Decide the sink's framing when the headers are complete: chunks when the message has a
  // body without Content-Length (chunked, or a response read until close), raw otherwise.
  void set_auto_chunk(bool on) { auto_chunk_ = on; }
  bool sink_chunked() const { return sink_chunked_; }
  // Body bytes beyond this make feed() fail with 413 (0: no limit).
  void set_body_limit(uint64_t limit) { body_limit_ = limit; }

  // The current message.
  std::string_view target() const { return url_; }
  const std::vector<HeaderRef>& headers() const { return headers_; }
  std::string_view name(const HeaderRef& h) const {
    return {arena_.data() + h.name_off, h.name_len};
  }
  std::string_view value(const HeaderRef& h) const {
    return {arena_.data() + h.value_off, h.value_len};
  }
  // First value of a header (case-insensitive name); `count` gets how many there were.
  std::string_view header(std::string_view name, int* count = nullptr) const;

  const llhttp_t& raw() const { return p_; }
  int status_code() const { return p_.status_code; }
  bool chunked() const { return (p_.flags & F_CHUNKED) != 0; }
  bool has_content_length() const { return (p_.flags & F_CONTENT_LENGTH) != 0; }
  uint64_t content_length() const { return content_length_; }
  bool upgrade_requested() const { return p_.upgrade != 0; }
  bool http10() const { return p_.http_major == 1 && p_.http_minor == 0; }
  bool keep_alive() const { return keep_alive_; }  // valid once the headers are complete
  bool headers_done() const { return headers_done_; }
  bool message_done() const { return message_done_; }
  bool started() const { return started_; }  // some byte of the current message was parsed
  uint64_t body_bytes() const { return body_bytes_; }
  size_t header_bytes() const { return header_bytes_; }  // request line + headers, roughly

  // After kError: the status to answer with (400, 413, 431) and why.
  int error_status() const { return error_status_; }
  const char* error_reason() const { return error_reason_; }

 private:
  static HttpParser* self(llhttp_t* p) { return static_cast<HttpParser*>(p->data); }
  static int on_message_begin(llhttp_t* p);
  static int on_url(llhttp_t* p, const char* at, size_t n);
  static int on_status(llhttp_t* p, const char* at, size_t n);
  static int on_header_field(llhttp_t* p, const char* at, size_t n);
  static int on_header_value(llhttp_t* p, const char* at, size_t n);
  static int on_header_value_complete(llhttp_t* p);
  static int on_headers_complete(llhttp_t* p);
  static int on_body(llhttp_t* p, const char* at, size_t n);
  static int on_message_complete(llhttp_t* p);
  int fail(int status, const char* reason);
  bool add_header_bytes(size_t n);

  llhttp_type_t type_;
  llhttp_settings_t settings_;
  llhttp_t p_;
  size_t max_header_bytes_;
  size_t max_headers_;

  std::string url_;
  std::string arena_;
  std::vector<HeaderRef> headers_;
  size_t header_bytes_ = 0;
  bool in_value_ = false;
  bool new_field_ = true;
  bool started_ = false;
  bool headers_done_ = false;
  bool message_done_ = false;
  bool keep_alive_ = false;
  bool pause_after_headers_ = false;
  bool skip_body_ = false;
  Event pause_event_ = Event::kNeedMore;

  std::string* sink_ = nullptr;
  bool sink_chunked_ = false;
  bool auto_chunk_ = false;
  uint64_t body_limit_ = 0;
  uint64_t body_bytes_ = 0;
  uint64_t content_length_ = 0;  // llhttp counts its copy down while parsing the body

  int error_status_ = 0;
  const char* error_reason_ = "";
};

// ASCII case-insensitive comparison (header names and tokens are ASCII; no locale lookup).
inline bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (static_cast<unsigned>(x - 'A') < 26u) x = static_cast<unsigned char>(x + 32);
    if (static_cast<unsigned>(y - 'A') < 26u) y = static_cast<unsigned char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

}  // namespace k8c::ingress
