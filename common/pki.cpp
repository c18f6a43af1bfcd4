// Certificates with OpenSSL 3: ECDSA P-256 keys, SHA-256 signatures, random 127-bit serials.
#include "common/pki.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace k8c::pki {

namespace {

template <class T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using CertPtr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;

[[noreturn]] void fail(const std::string& what) {
  unsigned long code = ERR_get_error();
  std::string msg = "pki: " + what;
  if (code) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    msg += ": ";
    msg += buf;
  }
  ERR_clear_error();
  throw std::runtime_error(msg);
}

KeyPtr new_key() {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) fail("generating an EC key");
  return key;
}

std::string pem_of(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) fail("encoding certificate");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string pem_of(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    fail("encoding private key");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

CertPtr read_cert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  CertPtr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) fail("reading CA certificate");
  return cert;
}

KeyPtr read_key(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) fail("reading CA private key");
  return key;
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    fail("adding extension " + std::string(OBJ_nid2sn(nid)) + "=" + value);
  }
}

void set_name(X509_NAME* name, const std::string& cn, const std::vector<std::string>& orgs) {
  for (const auto& o : orgs) {
    if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(o.c_str()), -1, -1,
                                   0) != 1) {
      fail("setting subject O=" + o);
    }
  }
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                 0) != 1) {
    fail("setting subject CN=" + cn);
  }
}

// Fills version, a random serial, validity and the public key.
CertPtr new_cert(EVP_PKEY* key, int days) {
  CertPtr cert(X509_new());
  if (!cert) fail("allocating certificate");
  X509_set_version(cert.get(), X509_VERSION_3);
  // Random serials keep certificates from two CAs of the same name from colliding in caches.
  BnPtr serial(BN_new());
  if (!serial || BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()))) {
    fail("generating serial number");
  }
  // Backdated a little so that peers with slightly slow clocks accept a fresh certificate.
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -5 * 60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 24 * 3600);
  if (X509_set_pubkey(cert.get(), key) != 1) fail("setting public key");
  return cert;
}

bool is_ip(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

}  // namespace

KeyPair make_ca(const std::string& common_name, int days) {
  KeyPtr key = new_key();
  CertPtr cert = new_cert(key.get(), days);
  set_name(X509_get_subject_name(cert.get()), common_name, {});
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  add_ext(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  add_ext(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
  add_ext(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
  add_ext(cert.get(), cert.get(), NID_authority_key_identifier, "keyid:always");
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) fail("signing CA certificate");
  return {pem_of(cert.get()), pem_of(key.get())};
}

KeyPair issue(const KeyPair& ca, const std::string& common_name,
              const std::vector<std::string>& organizations, const std::vector<std::string>& sans,
              bool server, int days) {
  CertPtr ca_cert = read_cert(ca.cert_pem);
  KeyPtr ca_key = read_key(ca.key_pem);
  if (X509_check_private_key(ca_cert.get(), ca_key.get()) != 1) {
    fail("CA key does not match CA certificate");
  }
  KeyPtr key = new_key();
  CertPtr cert = new_cert(key.get(), days);
  set_name(X509_get_subject_name(cert.get()), common_name, organizations);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get()));
  add_ext(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_ext(cert.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment");
  add_ext(cert.get(), ca_cert.get(), NID_ext_key_usage, server ? "serverAuth" : "clientAuth");
  add_ext(cert.get(), ca_cert.get(), NID_subject_key_identifier, "hash");
  add_ext(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid:always");
  if (!sans.empty()) {
    std::string list;
    for (const auto& san : sans) {
      if (san.empty() || san.find_first_of(",\n") != std::string::npos) {
        throw std::runtime_error("pki: invalid subject alternative name '" + san + "'");
      }
      if (!list.empty()) list += ",";
      list += (is_ip(san) ? "IP:" : "DNS:") + san;
    }
    add_ext(cert.get(), ca_cert.get(), NID_subject_alt_name, list);
  }
  if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) == 0) fail("signing certificate");
  return {pem_of(cert.get()), pem_of(key.get())};
}

void write_file(const std::string& path, const std::string& data, bool secret) {
  std::string tmp = path + ".tmp.XXXXXX";
  int fd = mkstemp(tmp.data());
  if (fd < 0) throw std::runtime_error("pki: cannot create " + tmp + ": " + strerror(errno));
  auto fail_io = [&](const char* what) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    throw std::runtime_error(std::string("pki: ") + what + " " + path + ": " + strerror(err));
  };
  if (fchmod(fd, secret ? 0600 : 0644) != 0) fail_io("cannot set mode of");
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_io("cannot write");
    }
    off += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) fail_io("cannot sync");
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error("pki: cannot close " + path + ": " + strerror(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error("pki: cannot rename to " + path + ": " + strerror(err));
  }
}

}  // namespace k8c::pki
