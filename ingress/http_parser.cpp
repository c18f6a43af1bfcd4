#include "ingress/http_parser.h"

#include "common/http.h"

#include <array>
#include <cctype>
#include <cstring>

namespace k8c::ingress {

namespace {

// A span of a field name (llhttp may hand a name over in several spans): token bytes only.
// Empty spans pass; llhttp itself refuses an empty name.
bool is_token_span(const char* at, size_t n) {
  return http::is_token({at, n});
}

// CR, LF or NUL in a header value span. Most values are short, and a table lookup per byte costs
// less than three memchr calls; long ones (cookies, tokens) take three vectorized passes.
bool has_cr_lf_nul(const char* at, size_t n) {
  if (n >= 64) {
    return std::memchr(at, '\r', n) || std::memchr(at, '\n', n) || std::memchr(at, '\0', n);
  }
  static constexpr std::array<bool, 256> kBad = [] {
    std::array<bool, 256> t{};
    t['\r'] = t['\n'] = t[0] = true;
    return t;
  }();
  bool bad = false;
  for (size_t i = 0; i < n; ++i) bad |= kBad[static_cast<unsigned char>(at[i])];
  return bad;
}

}  // namespace

namespace {

void append_hex(std::string& out, uint64_t v) {
  char buf[16];
  int n = 0;
  do {
    buf[n++] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v);
  while (n) out.push_back(buf[--n]);
}

}  // namespace

HttpParser::HttpParser(llhttp_type_t type, size_t max_header_bytes, size_t max_headers)
    : type_(type), max_header_bytes_(max_header_bytes), max_headers_(max_headers) {
  llhttp_settings_init(&settings_);
  settings_.on_message_begin = &HttpParser::on_message_begin;
  settings_.on_url = &HttpParser::on_url;
  settings_.on_status = &HttpParser::on_status;
  settings_.on_header_field = &HttpParser::on_header_field;
  settings_.on_header_value = &HttpParser::on_header_value;
  settings_.on_header_value_complete = &HttpParser::on_header_value_complete;
  settings_.on_headers_complete = &HttpParser::on_headers_complete;
  settings_.on_body = &HttpParser::on_body;
  settings_.on_message_complete = &HttpParser::on_message_complete;
  reset();
}

void HttpParser::reset() {
  llhttp_init(&p_, type_, &settings_);
  p_.data = this;
  started_ = headers_done_ = message_done_ = false;
  error_status_ = 0;
  error_reason_ = "";
}

HttpParser::Event HttpParser::feed(const char* data, size_t n, size_t* consumed) {
  pause_event_ = Event::kNeedMore;
  llhttp_errno_t err = llhttp_execute(&p_, data, n);
  if (err == HPE_OK) {
    *consumed = n;
    return Event::kNeedMore;
  }
  const char* pos = llhttp_get_error_pos(&p_);
  *consumed = pos && pos >= data ? static_cast<size_t>(pos - data) : n;
  if (err == HPE_PAUSED) {
    llhttp_resume(&p_);
    return pause_event_;
  }
  if (err == HPE_PAUSED_UPGRADE) {
    llhttp_resume_after_upgrade(&p_);
    return message_done_ ? Event::kMessage : pause_event_;
  }
  if (error_status_ == 0) {
    error_status_ = 400;
    error_reason_ = llhttp_get_error_reason(&p_);
    if (!error_reason_) error_reason_ = llhttp_errno_name(err);
  }
  return Event::kError;
}

HttpParser::Event HttpParser::finish() {
  llhttp_errno_t err = llhttp_finish(&p_);
  if (message_done_) return Event::kMessage;
  if (err == HPE_OK && !started_) return Event::kNeedMore;
  if (error_status_ == 0) {
    error_status_ = 502;
    error_reason_ = "message truncated by the peer";
  }
  return Event::kError;
}

std::string_view HttpParser::header(std::string_view name, int* count) const {
  std::string_view first;
  int n = 0;
  for (const HeaderRef& h : headers_) {
    if (iequals(this->name(h), name)) {
      if (n++ == 0) first = value(h);
    }
  }
  if (count) *count = n;
  return first;
}

int HttpParser::fail(int status, const char* reason) {
  error_status_ = status;
  error_reason_ = reason;
  llhttp_set_error_reason(&p_, reason);
  return HPE_USER;
}

bool HttpParser::add_header_bytes(size_t n) {
  header_bytes_ += n;
  return header_bytes_ <= max_header_bytes_;
}

int HttpParser::on_message_begin(llhttp_t* p) {
  HttpParser* s = self(p);
  s->url_.clear();
  s->arena_.clear();
  s->headers_.clear();
  s->header_bytes_ = 0;
  s->new_field_ = true;
  s->in_value_ = false;
  s->started_ = true;
  s->headers_done_ = false;
  s->message_done_ = false;
  s->body_bytes_ = 0;
  return 0;
}

int HttpParser::on_url(llhttp_t* p, const char* at, size_t n) {
  HttpParser* s = self(p);
  if (!s->add_header_bytes(n)) return s->fail(431, "request line too large");
  s->url_.append(at, n);
  return 0;
}

int HttpParser::on_status(llhttp_t* p, const char*, size_t n) {
  HttpParser* s = self(p);
  if (!s->add_header_bytes(n)) return s->fail(502, "status line too large");
  return 0;
}

int HttpParser::on_header_field(llhttp_t* p, const char* at, size_t n) {
  HttpParser* s = self(p);
  int too_large = s->type_ == HTTP_REQUEST ? 431 : 502;
  if (s->new_field_) {
    if (s->headers_.size() >= s->max_headers_) return s->fail(too_large, "too many headers");
    s->new_field_ = false;
    s->in_value_ = false;
    HeaderRef h;
    h.name_off = static_cast<uint32_t>(s->arena_.size());
    s->headers_.push_back(h);
    // ": " and CRLF count too, so many tiny headers cannot slip under the byte limit.
    if (!s->add_header_bytes(4)) return s->fail(too_large, "header block too large");
  }
  if (!s->add_header_bytes(n)) return s->fail(too_large, "header block too large");
  // llhttp tolerates some non-token bytes in field names; RFC 9110 does not.
  if (!is_token_span(at, n)) return s->fail(400, "invalid header name");
  s->arena_.append(at, n);
  s->headers_.back().name_len += static_cast<uint32_t>(n);
  return 0;
}

int HttpParser::on_header_value(llhttp_t* p, const char* at, size_t n) {
  HttpParser* s = self(p);
  if (!s->add_header_bytes(n)) {
    return s->fail(s->type_ == HTTP_REQUEST ? 431 : 502, "header block too large");
  }
  // A CR, LF or NUL inside a value span would let one header smuggle another once re-serialized,
  // so refuse it. (llhttp hands an obsolete line fold over as two spans without the CRLF, so a
  // folded value goes upstream joined by the fold's whitespace, as RFC 9112 allows.)
  if (has_cr_lf_nul(at, n)) return s->fail(400, "invalid header value (line folding or NUL)");
  HeaderRef& h = s->headers_.back();
  if (!s->in_value_) {
    s->in_value_ = true;
    h.value_off = static_cast<uint32_t>(s->arena_.size());
  }
  s->arena_.append(at, n);
  h.value_len += static_cast<uint32_t>(n);
  return 0;
}

int HttpParser::on_header_value_complete(llhttp_t* p) {
  // The next field starts a new header, even when this value was empty.
  HttpParser* s = self(p);
  s->new_field_ = true;
  s->in_value_ = false;
  return 0;
}

int HttpParser::on_headers_complete(llhttp_t* p) {
  HttpParser* s = self(p);
  s->headers_done_ = true;
  s->content_length_ = (p->flags & F_CONTENT_LENGTH) ? p->content_length : 0;
  s->keep_alive_ = llhttp_should_keep_alive(p) != 0;
  if (s->body_limit_ && (p->flags & F_CONTENT_LENGTH) && p->content_length > s->body_limit_) {
    return s->fail(413, "body larger than the limit");
  }
  if (s->auto_chunk_) {
    bool has_length = (p->flags & F_CONTENT_LENGTH) != 0;
    bool chunked = (p->flags & F_CHUNKED) != 0;
    bool until_close = s->type_ == HTTP_RESPONSE && !s->skip_body_ && !has_length && !chunked &&
                       p->status_code >= 200 && p->status_code != 204 && p->status_code != 304;
    s->sink_chunked_ = !has_length && (chunked || until_close) && !s->skip_body_;
  }
  if (s->skip_body_) return 1;
  if (s->pause_after_headers_) {
    s->pause_event_ = Event::kHeaders;
    return HPE_PAUSED;
  }
  return 0;
}

int HttpParser::on_body(llhttp_t* p, const char* at, size_t n) {
  HttpParser* s = self(p);
  s->body_bytes_ += n;
  if (s->body_limit_ && s->body_bytes_ > s->body_limit_) {
    return s->fail(413, "body larger than the limit");
  }
  if (s->sink_) {
    if (s->sink_chunked_) {
      append_hex(*s->sink_, n);
      s->sink_->append("\r\n");
      s->sink_->append(at, n);
      s->sink_->append("\r\n");
    } else {
      s->sink_->append(at, n);
    }
  }
  return 0;
}

int HttpParser::on_message_complete(llhttp_t* p) {
  HttpParser* s = self(p);
  s->message_done_ = true;
  s->keep_alive_ = llhttp_should_keep_alive(p) != 0;
  // Trailers are dropped: they would have to be re-validated like headers, and nothing we
  // proxy for relies on them.
  if (s->sink_ && s->sink_chunked_) s->sink_->append("0\r\n\r\n");
  s->pause_event_ = Event::kMessage;
  return HPE_PAUSED;
}

}  // namespace k8c::ingress
