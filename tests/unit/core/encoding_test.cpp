#include "core/encoding.h"

#include <gtest/gtest.h>

namespace cg::core {
namespace {

// Encoding then decoding returns the bytes, for every padding length.
TEST(Base64Test, RoundTripsAllPaddingLengths) {
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    auto d = base64_decode(base64_encode(s));
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(*d, s);
  }
  EXPECT_EQ(base64_encode(std::string_view("hello")), "aGVsbG8=");
}

// IdPs wrap base64 at 64 or 76 columns; whitespace is ignored.
TEST(Base64Test, IgnoresWhitespace) {
  auto d = base64_decode("aGVs\r\n bG8=\n");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(*d, "hello");
}

// Long input (decoded four characters at a time) agrees with the character-at-a-time path,
// wrapped or not, whatever the padding; whitespace inside a group and data after '=' are handled
// the same way as in short input.
TEST(Base64Test, LongInputMatchesEveryWrapping) {
  std::string bytes;
  for (int i = 0; i < 1000; ++i) bytes += static_cast<char>((i * 37) & 0xFF);
  for (size_t len : {size_t{998}, size_t{999}, size_t{1000}}) {
    std::string enc = base64_encode(std::string_view(bytes).substr(0, len));
    std::string wrapped;
    for (size_t i = 0; i < enc.size(); ++i)
      wrapped += (i % 64 == 61 ? "\r\n" : "") + enc.substr(i, 1);
    EXPECT_EQ(*base64_decode(enc), bytes.substr(0, len));
    EXPECT_EQ(*base64_decode(wrapped), bytes.substr(0, len));
  }
  EXPECT_EQ(*base64_decode("aG Vs bG8="), "hello");
  EXPECT_FALSE(base64_decode("aGVsbG8=aGVsbG8=").has_value());
  EXPECT_FALSE(base64_decode("aGVsbG8haGVs*G8=").has_value());
}

// Characters outside the alphabet and data after padding are errors, not silently dropped.
TEST(Base64Test, RejectsInvalidInput) {
  EXPECT_FALSE(base64_decode("aGVs*G8=").has_value());
  EXPECT_FALSE(base64_decode("aGVsbG8=aGVs").has_value());
  EXPECT_FALSE(base64_decode("a").has_value());
  EXPECT_EQ(base64_decode("a*").error().name, "input.base64");
}

// Form decoding turns '+' into a space; %-escapes must be complete.
TEST(UrlTest, DecodesAndRejectsMalformedEscapes) {
  EXPECT_EQ(*url_decode("a+b%2Fc"), "a b/c");
  EXPECT_EQ(*url_decode("a+b", false), "a+b");
  EXPECT_FALSE(url_decode("abc%2").has_value());
  EXPECT_FALSE(url_decode("abc%zz").has_value());
  EXPECT_EQ(*url_decode("%41"), "A");
  EXPECT_EQ(*url_decode("abc%3D%3D+"), "abc== ");
  EXPECT_FALSE(url_decode("%4").has_value());
  EXPECT_EQ(url_encode("a b/c~"), "a%20b%2Fc~");
}

// The Redirect binding signs the raw values; the parser keeps them.
TEST(UrlTest, ParseQueryKeepsRawValues) {
  auto q = parse_query("?SAMLRequest=ab%2Bc&RelayState=x+y");
  ASSERT_TRUE(q.has_value());
  ASSERT_EQ(q->size(), 2u);
  EXPECT_EQ((*q)[0].value, "ab+c");
  EXPECT_EQ((*q)[0].raw_value, "ab%2Bc");
  EXPECT_EQ(find_param(*q, "RelayState")->value, "x y");
  EXPECT_EQ(find_param(*q, "Signature"), nullptr);
}

// Raw DEFLATE round trip, and a decompression bomb stops at the limit.
TEST(DeflateTest, RoundTripsAndStopsBombs) {
  std::string text(100000, 'A');
  std::string packed = deflate_raw(text);
  EXPECT_LT(packed.size(), 1000u);
  auto out = inflate_raw(packed, 200000);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(*out, text);
  auto bomb = inflate_raw(packed, 50000);
  ASSERT_FALSE(bomb.has_value());
  EXPECT_EQ(bomb.error().name, "input.too_large");
  EXPECT_FALSE(inflate_raw("not deflate data at all", 1000).has_value());
}

}  // namespace
}  // namespace cg::core
