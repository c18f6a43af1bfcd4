// split_args turns --eal's string into rte_eal_init's argv; it must split as a shell would,
// because users copy EAL arguments from DPDK documentation written for shells.
#include "dataplane/eal_runtime.h"

#include <gtest/gtest.h>

namespace k8c::dp {
namespace {

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  std::string error;
  EXPECT_TRUE(split_args(s, &out, &error)) << error;
  return out;
}

std::string split_error(std::string_view s) {
  std::vector<std::string> out;
  std::string error;
  EXPECT_FALSE(split_args(s, &out, &error));
  return error;
}

using V = std::vector<std::string>;

TEST(SplitArgs, BlanksSeparateWords) {
  EXPECT_EQ(split("  -l 0-1\t--no-pci \n"), (V{"-l", "0-1", "--no-pci"}));
  EXPECT_EQ(split(""), V{});
  EXPECT_EQ(split("   "), V{});
}

TEST(SplitArgs, QuotesJoinAndProtect) {
  EXPECT_EQ(split("--vdev='net_tap0,iface=a b'"), (V{"--vdev=net_tap0,iface=a b"}));
  EXPECT_EQ(split(R"(--vdev="net_tap0,iface=\"x\"" x)"), (V{R"(--vdev=net_tap0,iface="x")", "x"}));
  EXPECT_EQ(split(R"('a\b' "c\d")"), (V{R"(a\b)", R"(c\d)"}));  // \ is literal in '' and before d
  EXPECT_EQ(split("''"), V{""});                                // an empty word is a word
  EXPECT_EQ(split(R"(a\ b)"), V{"a b"});
  EXPECT_EQ(split("$HOME `id`"), (V{"$HOME", "`id`"}));  // no expansion: no shell runs
}

TEST(SplitArgs, UnbalancedInputIsAnError) {
  EXPECT_EQ(split_error("--vdev='net_null0"), "unbalanced ' quote");
  EXPECT_EQ(split_error(R"(-l "0-1)"), "unbalanced \" quote");
  EXPECT_EQ(split_error(R"(-l "0-1\")"), "unbalanced \" quote");
  EXPECT_EQ(split_error("abc\\"), "trailing backslash");
}

TEST(KernelPortName, InterfaceNamesTheKernelAndDevargsAccept) {
  std::string why;
  EXPECT_TRUE(kernel_port_name_ok("k8c0", &why));
  EXPECT_TRUE(kernel_port_name_ok("dpdk0.kni-1_x", &why));
  EXPECT_TRUE(kernel_port_name_ok(std::string(15, 'a'), &why));
  EXPECT_FALSE(kernel_port_name_ok(std::string(16, 'a'), &why));
  EXPECT_EQ(why, "an interface name has 1 to 15 characters");
  EXPECT_FALSE(kernel_port_name_ok("", &why));
  for (const char* bad : {"a,b", "a=b", "a/b", "a b", "a:b", "a\tb"}) {
    EXPECT_FALSE(kernel_port_name_ok(bad, &why)) << bad;
    EXPECT_NE(why.find("cannot contain"), std::string::npos) << why;
  }
}

}  // namespace
}  // namespace k8c::dp
