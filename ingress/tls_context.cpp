#include "ingress/tls_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <spdlog/spdlog.h>

namespace k8c::ingress {

namespace {

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

}  // namespace

void apply_modern_tls_settings(SSL_CTX* ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
  // TLS 1.2: ECDHE with AEAD only (Mozilla "intermediate" minus DHE); TLS 1.3 suites are all
  // modern and keep OpenSSL's defaults.
  SSL_CTX_set_cipher_list(ctx,
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                          "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                          "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
}

SslCtxPtr make_tls_context(const std::string& cert_pem, const std::string& key_pem,
                           std::string* error) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) {
    *error = "SSL_CTX_new: " + openssl_error();
    return nullptr;
  }
  apply_modern_tls_settings(ctx.get());
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())), BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> leaf(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  if (!leaf) {
    *error = "tls.crt holds no PEM certificate: " + openssl_error();
    return nullptr;
  }
  if (SSL_CTX_use_certificate(ctx.get(), leaf.get()) != 1) {
    *error = "tls.crt: " + openssl_error();
    return nullptr;
  }
  // The rest of the PEM is the chain, sent after the leaf.
  while (X509* extra = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    if (SSL_CTX_add0_chain_cert(ctx.get(), extra) != 1) {
      X509_free(extra);
      *error = "tls.crt chain: " + openssl_error();
      return nullptr;
    }
  }
  ERR_clear_error();  // the loop ends on a "no start line" error
  std::unique_ptr<BIO, decltype(&BIO_free)> key_bio(
      BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!key) {
    *error = "tls.key holds no PEM private key: " + openssl_error();
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    *error = "tls.key does not match tls.crt: " + openssl_error();
    return nullptr;
  }
  return ctx;
}

SslCtxPtr TlsContextCache::get(const Certificate& cert) {
  std::string key = cert.secret_namespace + "/" + cert.secret_name;
  std::lock_guard lock(mu_);
  auto it = by_secret_.find(key);
  if (it != by_secret_.end() && it->second.resource_version == cert.resource_version &&
      it->second.cert_pem == cert.cert_pem && it->second.key_pem == cert.key_pem) {
    return it->second.ctx;
  }
  Entry e{cert.resource_version, cert.cert_pem, cert.key_pem, nullptr};
  std::string error;
  e.ctx = make_tls_context(cert.cert_pem, cert.key_pem, &error);
  if (!e.ctx) {
    spdlog::warn("ingress: Secret {} (resourceVersion {}) is not a usable certificate: {}", key,
                 cert.resource_version, error);
  }
  SslCtxPtr out = e.ctx;
  by_secret_[key] = std::move(e);
  return out;
}

size_t TlsContextCache::size() const {
  std::lock_guard lock(mu_);
  return by_secret_.size();
}

}  // namespace k8c::ingress
