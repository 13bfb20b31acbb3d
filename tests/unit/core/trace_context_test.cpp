#include "core/trace_context.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace cg::core {
namespace {

// Bytes in order from a counter: ids are predictable in tests.
class CountingRandom final : public Random {
 public:
  explicit CountingRandom(uint8_t start = 1) : next_(start) {}
  void fill(uint8_t* out, size_t n) override {
    for (size_t i = 0; i < n; ++i) out[i] = next_++;
  }

 private:
  uint8_t next_;
};

// Zeros first (an all-zero id must never be made), then a counter.
class ZerosFirstRandom final : public Random {
 public:
  void fill(uint8_t* out, size_t n) override {
    if (calls_++ == 0) {
      std::memset(out, 0, n);
    } else {
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(0xa0 + i);
    }
  }

 private:
  int calls_ = 0;
};

constexpr std::string_view kValid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

// The specification's own example parses into its parts.
TEST(TraceparentTest, ParsesTheSpecificationsExample) {
  auto t = parse_traceparent(kValid);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(t->parent_id, "00f067aa0ba902b7");
  EXPECT_EQ(t->flags, 1);
  EXPECT_EQ(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")->flags, 0);
}

// Everything W3C calls invalid is refused: other versions (ff and future ones alike, since
// only 00 is understood here), upper-case hex, all-zero ids, wrong lengths and separators,
// characters that are not hex, whitespace around it.
TEST(TraceparentTest, RefusesEveryMalformedValue) {
  for (std::string_view bad : {
           "",
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
           "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
           "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
           "00-4bf92f3577b34da6a3ce929d0e0e473x-00f067aa0ba902b7-01",
           " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b\n-01",
       }) {
    EXPECT_FALSE(parse_traceparent(bad)) << bad;
  }
}

// A valid traceparent is continued: same trace id, the client's span becomes the parent, the
// gateway sends its own span id, the sampled flag is kept and the reserved bits are not.
TEST(TraceContextTest, ContinuesAValidTraceWithItsOwnSpan) {
  CountingRandom random;
  auto t = continue_or_start_trace(kValid, 1, "congo=t61rcWkgMzE", random);
  EXPECT_TRUE(t.continued);
  EXPECT_EQ(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(t.parent_id, "00f067aa0ba902b7");
  EXPECT_EQ(t.span_id, "0102030405060708");
  EXPECT_EQ(t.traceparent(), "00-4bf92f3577b34da6a3ce929d0e0e4736-0102030405060708-01");
  EXPECT_EQ(t.tracestate, "congo=t61rcWkgMzE");
  auto reserved = continue_or_start_trace("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff",
                                          1, "", random);
  EXPECT_TRUE(reserved.continued);
  EXPECT_EQ(reserved.traceparent().substr(53), "01");
}

// Absent, invalid, or sent twice: a new trace (random ids, flags 00), and the tracestate that
// came with it is dropped (it belongs to the traceparent it came with).
TEST(TraceContextTest, StartsANewTraceWhenTheClientsIsMissingOrInvalid) {
  CountingRandom random;
  auto absent = continue_or_start_trace("", 0, "", random);
  EXPECT_FALSE(absent.continued);
  EXPECT_EQ(absent.trace_id, "0102030405060708090a0b0c0d0e0f10");
  EXPECT_EQ(absent.span_id, "1112131415161718");
  EXPECT_EQ(absent.parent_id, "");
  EXPECT_EQ(absent.traceparent(), "00-0102030405060708090a0b0c0d0e0f10-1112131415161718-00");
  auto invalid = continue_or_start_trace("00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                                         1, "congo=t61rcWkgMzE", random);
  EXPECT_FALSE(invalid.continued);
  EXPECT_NE(invalid.trace_id, "00000000000000000000000000000000");
  EXPECT_EQ(invalid.tracestate, "");
  auto twice = continue_or_start_trace(kValid, 2, "congo=t61rcWkgMzE", random);
  EXPECT_FALSE(twice.continued);
  EXPECT_NE(twice.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(twice.tracestate, "");
  // Ids made here are never all zero, even when the generator says so.
  ZerosFirstRandom zeros;
  auto fresh = continue_or_start_trace("", 0, "", zeros);
  EXPECT_NE(fresh.trace_id.find_first_not_of('0'), std::string::npos);
  EXPECT_EQ(fresh.trace_id.size(), 32u);
  EXPECT_EQ(fresh.span_id.size(), 16u);
}

// tracestate: well-formed lists pass re-joined (whitespace and empty members dropped); a
// malformed member, a repeated key, more than 32 members, or a control byte drop it all.
TEST(TracestateTest, KeepsWellFormedListsAndDropsMalformedOnes) {
  EXPECT_EQ(sanitize_tracestate("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  EXPECT_EQ(sanitize_tracestate(" rojo=1 ,, \tcongo=2\t,"), "rojo=1,congo=2");
  EXPECT_EQ(sanitize_tracestate("fw529a3039@dt=ZGVmYXVsdA, a_b-c*d/e=x y"),
            "fw529a3039@dt=ZGVmYXVsdA,a_b-c*d/e=x y");
  for (std::string_view bad : {
           "Rojo=1",               // upper-case key
           "1rojo=1",              // a simple key starts with a letter
           "rojo",                 // no value
           "rojo=",                // an empty value
           "rojo=a=b",             // '=' in a value
           "rojo=a\nforged=1",     // a control byte
           "rojo=a\x7f",           // DEL
           "rojo=\xc3\xa9",        // not ASCII
           "rojo=1,rojo=2",        // a key twice
           "t@Sys=1",              // system id upper case
           "t@=1",                 // empty system id
           "t@abcdefghijklmno=1",  // system id too long
           "rojo=1 ",              // a value may not end in a space (trimmed: ok)
       }) {
    std::string got = sanitize_tracestate(bad);
    if (std::string_view(bad) == "rojo=1 ") {
      EXPECT_EQ(got, "rojo=1");  // OWS around a member is not part of it
    } else {
      EXPECT_EQ(got, "") << bad;
    }
  }
  std::string many;
  for (int i = 0; i < 33; ++i) many += (i ? ",k" : "k") + std::to_string(i) + "=v";
  EXPECT_EQ(sanitize_tracestate(many), "");
  std::string thirty_two = many.substr(0, many.rfind(','));
  EXPECT_EQ(sanitize_tracestate(thirty_two), thirty_two);
}

// Past 512 characters, long members (over 128) go first, then members from the end.
TEST(TracestateTest, TrimsToTheLengthLimit) {
  std::string long_member = "big=" + std::string(200, 'x');
  std::string list = "a=1," + long_member;
  for (int i = 0; i < 20; ++i) list += ",k" + std::to_string(i) + "=" + std::string(20, 'y');
  std::string out = sanitize_tracestate(list);
  EXPECT_LE(out.size(), kMaxTracestateChars);
  EXPECT_EQ(out.find("big="), std::string::npos) << out;
  EXPECT_EQ(out.rfind("a=1,", 0), 0u) << out;
  EXPECT_NE(out.find("k0="), std::string::npos) << out;
  std::string small = "a=1," + long_member;
  EXPECT_EQ(sanitize_tracestate(small), small);  // under the limit: kept whole
}

}  // namespace
}  // namespace cg::core
