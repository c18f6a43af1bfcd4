#include "common/pki.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

namespace k8c::pki {
namespace {

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
using CertPtr = std::unique_ptr<X509, X509Deleter>;

CertPtr parse(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  CertPtr c(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  return c;
}

std::string subject_entry(X509* c, int nid, int which = 0) {
  X509_NAME* n = X509_get_subject_name(c);
  int idx = -1;
  for (int i = 0; i <= which; ++i) {
    idx = X509_NAME_get_index_by_NID(n, nid, idx);
    if (idx < 0) return {};
  }
  ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, idx));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

// Verifies `leaf` against `ca` for the given purpose.
bool verifies(X509* ca, X509* leaf, int purpose) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  X509_STORE_CTX_set_purpose(ctx, purpose);
  bool ok = X509_verify_cert(ctx) == 1;
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return ok;
}

TEST(Pki, CaIsSelfSignedCa) {
  KeyPair ca = make_ca("k8c-ca");
  auto c = parse(ca.cert_pem);
  ASSERT_TRUE(c);
  EXPECT_EQ(subject_entry(c.get(), NID_commonName), "k8c-ca");
  EXPECT_EQ(X509_check_ca(c.get()), 1);
  EXPECT_TRUE(X509_get_key_usage(c.get()) & KU_KEY_CERT_SIGN);
  EXPECT_EQ(X509_check_issued(c.get(), c.get()), X509_V_OK);
  EXPECT_NE(ca.key_pem.find("PRIVATE KEY"), std::string::npos);
  // Serials are random, so two CAs of the same name differ.
  auto c2 = parse(make_ca("k8c-ca").cert_pem);
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(c.get()), X509_get0_serialNumber(c2.get())), 0);
}

TEST(Pki, ServerCertificateHasSansAndServerAuth) {
  KeyPair ca = make_ca("k8c-ca");
  KeyPair s = issue(ca, "apiserver", {}, {"127.0.0.1", "::1", "kubernetes.default.svc"}, true);
  auto cac = parse(ca.cert_pem);
  auto c = parse(s.cert_pem);
  ASSERT_TRUE(c);
  EXPECT_TRUE(verifies(cac.get(), c.get(), X509_PURPOSE_SSL_SERVER));
  EXPECT_FALSE(verifies(cac.get(), c.get(), X509_PURPOSE_SSL_CLIENT));
  EXPECT_EQ(X509_check_ip_asc(c.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(c.get(), "::1", 0), 1);
  EXPECT_EQ(X509_check_host(c.get(), "kubernetes.default.svc", 0, 0, nullptr), 1);
  EXPECT_NE(X509_check_host(c.get(), "127.0.0.1", 0, 0, nullptr), 1);  // IPs are not DNS names
  EXPECT_EQ(X509_check_ca(c.get()), 0);
  auto other = parse(make_ca("other").cert_pem);
  EXPECT_FALSE(verifies(other.get(), c.get(), X509_PURPOSE_SSL_SERVER));
}

TEST(Pki, ClientCertificateCarriesGroups) {
  KeyPair ca = make_ca("k8c-ca");
  KeyPair u = issue(ca, "admin", {"system:masters", "ops"}, {}, false);
  auto cac = parse(ca.cert_pem);
  auto c = parse(u.cert_pem);
  ASSERT_TRUE(c);
  EXPECT_TRUE(verifies(cac.get(), c.get(), X509_PURPOSE_SSL_CLIENT));
  EXPECT_FALSE(verifies(cac.get(), c.get(), X509_PURPOSE_SSL_SERVER));
  EXPECT_EQ(subject_entry(c.get(), NID_commonName), "admin");
  EXPECT_EQ(subject_entry(c.get(), NID_organizationName, 0), "system:masters");
  EXPECT_EQ(subject_entry(c.get(), NID_organizationName, 1), "ops");
}

TEST(Pki, IssueRejectsBadInput) {
  KeyPair ca = make_ca("k8c-ca");
  EXPECT_THROW(issue({"garbage", "garbage"}, "x", {}, {}, true), std::runtime_error);
  KeyPair other = make_ca("other");
  EXPECT_THROW(issue({ca.cert_pem, other.key_pem}, "x", {}, {}, true), std::runtime_error);
  EXPECT_THROW(issue(ca, "x", {}, {"a,DNS:evil"}, true), std::runtime_error);
}

TEST(Pki, WriteFileIsAtomicWithModes) {
  auto dir = std::filesystem::temp_directory_path() / ("k8c-pki-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::string key = (dir / "a.key").string(), crt = (dir / "a.crt").string();
  write_file(key, "secret", true);
  write_file(crt, "public", false);
  write_file(crt, "public2", false);  // replaces
  struct stat st {};
  ASSERT_EQ(stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(crt.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  std::ifstream in(crt);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), "public2");
  // No temporary files are left behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 2);
  EXPECT_THROW(write_file((dir / "missing" / "x").string(), "x", false), std::runtime_error);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace k8c::pki
