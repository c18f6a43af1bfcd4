// A read buffer holds its unread bytes in [beg, end). Before the next read into [end, cap):
// start over when everything was consumed, and move the unread bytes to the front once they
// reach the end, so the read has room. Shared by the client connection's buffer (proxy.cpp) and
// TlsSocket's record buffer.
#pragma once

#include <cstddef>
#include <cstring>

namespace k8c::ingress {

inline void make_room(char* buf, size_t cap, size_t& beg, size_t& end) {
  if (beg == end) {
    beg = end = 0;
  } else if (end == cap) {
    std::memmove(buf, buf + beg, end - beg);
    end -= beg;
    beg = 0;
  }
}

}  // namespace k8c::ingress
