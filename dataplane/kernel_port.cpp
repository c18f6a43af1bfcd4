#include "dataplane/kernel_port.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace k8c::dp {

namespace {

void set_addr(sockaddr* sa, uint32_t host_order) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(host_order);
  std::memcpy(sa, &sin, sizeof sin);
}

}  // namespace

bool add_interface_address(const std::string& ifname, uint32_t ip, unsigned prefix_len,
                           std::string* error) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ || prefix_len < 1 || prefix_len > 32) {
    *error = "bad interface name or prefix length";
    return false;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  auto fail = [&](const char* what) {
    *error = std::string(what) + " on " + ifname + ": " + std::strerror(errno);
    close(fd);
    return false;
  };
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, ifname.data(), ifname.size());
  // SIOCSIFADDR sets the interface's primary address: a fresh tap has none.
  bool present = ioctl(fd, SIOCGIFADDR, &ifr) == 0 &&
                 reinterpret_cast<sockaddr_in*>(&ifr.ifr_addr)->sin_addr.s_addr == htonl(ip);
  if (!present) {
    set_addr(&ifr.ifr_addr, ip);
    if (ioctl(fd, SIOCSIFADDR, &ifr) != 0) return fail("SIOCSIFADDR");
    uint32_t mask = prefix_len >= 32 ? 0xffffffffu : ~((1u << (32 - prefix_len)) - 1);
    set_addr(&ifr.ifr_netmask, mask);
    if (ioctl(fd, SIOCSIFNETMASK, &ifr) != 0) return fail("SIOCSIFNETMASK");
  }
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) return fail("SIOCGIFFLAGS");
  if (!(ifr.ifr_flags & IFF_UP)) {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) return fail("SIOCSIFFLAGS");
  }
  close(fd);
  return true;
}

}  // namespace k8c::dp
