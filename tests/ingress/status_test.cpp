// status.loadBalancer.ingress for the address the proxy listens on.
#include <gtest/gtest.h>

#include "ingress/status.h"

namespace k8c::ingress {
namespace {

Json lb(std::string_view address) {
  std::string err;
  auto v = load_balancer_ingress(address, &err);
  EXPECT_TRUE(v.has_value()) << err;
  return v.value_or(Json());
}

std::string error_for(std::string_view address) {
  std::string err;
  EXPECT_FALSE(load_balancer_ingress(address, &err).has_value()) << address;
  return err;
}

TEST(Status, Ipv4WithAndWithoutPort) {
  EXPECT_EQ(lb("192.168.1.10"), Json::parse(R"([{"ip":"192.168.1.10"}])"));
  EXPECT_EQ(lb("192.168.1.10:443"), Json::parse(R"([{"ip":"192.168.1.10"}])"));
}

TEST(Status, Ipv6BareAndBracketed) {
  EXPECT_EQ(lb("fd00::1"), Json::parse(R"([{"ip":"fd00::1"}])"));
  EXPECT_EQ(lb("[fd00::1]:80"), Json::parse(R"([{"ip":"fd00::1"}])"));
  EXPECT_EQ(lb("[::1]"), Json::parse(R"([{"ip":"::1"}])"));
}

TEST(Status, HostnamesAreLowercased) {
  EXPECT_EQ(lb("Ingress.Example.com:80"), Json::parse(R"([{"hostname":"ingress.example.com"}])"));
  EXPECT_EQ(lb("localhost"), Json::parse(R"([{"hostname":"localhost"}])"));
}

TEST(Status, UnreachableOrMalformedAddressesAreRejected) {
  EXPECT_NE(error_for("0.0.0.0:80").find("0.0.0.0"), std::string::npos);
  EXPECT_NE(error_for("[::]:443").find("::"), std::string::npos);
  EXPECT_FALSE(error_for("").empty());
  EXPECT_FALSE(error_for("bad_host!").empty());
  EXPECT_FALSE(error_for("[fd00::1").empty());
  EXPECT_FALSE(error_for("-leading.example.com").empty());
  EXPECT_FALSE(error_for("[not-an-ip]").empty());
}

TEST(Status, SeveralAddressesKeepOrderAndDropDuplicates) {
  std::vector<std::string> addrs = {"10.0.0.2:80", "10.0.0.1", "10.0.0.2:443", "lb.example.com"};
  std::string err;
  auto v = load_balancer_ingress(addrs, &err);
  ASSERT_TRUE(v) << err;
  EXPECT_EQ(*v,
            Json::parse(R"([{"ip":"10.0.0.2"},{"ip":"10.0.0.1"},{"hostname":"lb.example.com"}])"));
}

TEST(Status, PatchShapeAndUpToDateCheck) {
  Json value = lb("10.0.0.5");
  Json patch = status_patch(value);
  EXPECT_EQ(patch, Json::parse(R"({"status":{"loadBalancer":{"ingress":[{"ip":"10.0.0.5"}]}}})"));

  Json ing = {{"metadata", {{"name", "a"}}}, {"spec", Json::object()}};
  EXPECT_FALSE(status_up_to_date(ing, value));
  ing["status"] = {{"loadBalancer", Json::object()}};
  EXPECT_FALSE(status_up_to_date(ing, value));
  EXPECT_TRUE(status_up_to_date(ing, Json::array()));
  ing.merge_patch(patch);
  EXPECT_TRUE(status_up_to_date(ing, value));
  EXPECT_FALSE(status_up_to_date(ing, lb("10.0.0.6")));
}

}  // namespace
}  // namespace k8c::ingress
