// Certificates for the control plane: a self-signed CA, server and client certificates.
#pragma once

#include <string>
#include <vector>

namespace k8c::pki {

struct KeyPair {
  std::string cert_pem;
  std::string key_pem;
};

KeyPair make_ca(const std::string& common_name, int days = 3650);

// Issues a certificate signed by `ca`. Server certificates get the SANs (IPs or DNS names,
// detected by form); client certificates carry `organizations` as subject O (groups).
KeyPair issue(const KeyPair& ca, const std::string& common_name,
              const std::vector<std::string>& organizations, const std::vector<std::string>& sans,
              bool server, int days = 365);

// Writes a file with mode 0600 (keys) or 0644, atomically (temp file + rename).
void write_file(const std::string& path, const std::string& data, bool secret);

}  // namespace k8c::pki
