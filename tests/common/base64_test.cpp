#include "common/base64.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace k8c {
namespace {

TEST(Base64, RoundTripsAndAcceptsUnpaddedAndWhitespace) {
  for (const std::string& s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba",
                                                       "foobar", std::string("\0\xff\x10", 3)}) {
    auto enc = base64_encode(s);
    auto dec = base64_decode(enc);
    ASSERT_TRUE(dec) << enc;
    EXPECT_EQ(*dec, s);
  }
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_decode("Zm8"), "fo");
  EXPECT_EQ(base64_decode("Zm9v\nYmFy\n"), "foobar");
  EXPECT_FALSE(base64_decode("Zm9v!!!!"));
  EXPECT_FALSE(base64_decode("Z"));
}

}  // namespace
}  // namespace k8c
