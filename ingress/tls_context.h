// TLS server contexts for the ingress: one SSL_CTX per certificate, built from the PEM the route
// table carries and cached by Secret until its resourceVersion (or content) changes, so a
// handshake never re-parses keys and a renewed Secret takes effect on the next handshake.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "ingress/route_table.h"

namespace k8c::ingress {

using SslCtxPtr = std::shared_ptr<SSL_CTX>;

// TLS 1.2 and 1.3 only, forward-secret AEAD ciphers, no compression or renegotiation.
void apply_modern_tls_settings(SSL_CTX* ctx);

// A context for one certificate chain and key in PEM. Null with *error set when the PEM does not
// parse or the key does not match the certificate.
SslCtxPtr make_tls_context(const std::string& cert_pem, const std::string& key_pem,
                           std::string* error);

class TlsContextCache {
 public:
  // The context for `cert`, built on first use and again when the Secret changed. Thread-safe.
  // Null when the certificate is unusable (the error is logged once per Secret version).
  SslCtxPtr get(const Certificate& cert);
  size_t size() const;

 private:
  struct Entry {
    std::string resource_version;
    std::string cert_pem;
    std::string key_pem;
    SslCtxPtr ctx;  // null: this version failed to load
  };
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> by_secret_;  // "namespace/name"
};

}  // namespace k8c::ingress
