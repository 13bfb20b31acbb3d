#include <gtest/gtest.h>

#include "core/time.h"
#include "crypto/keys.h"
#include "support/dated_cert.h"
#include "support/saml_fixture.h"

namespace cg::crypto {
namespace {

std::string when(core::WallTime t) { return core::format_datetime(t); }

// notBefore / notAfter keep their real year whichever ASN.1 form carries them: UTCTime for
// 1950 to 2049, GeneralizedTime for 2038 (past a 32-bit time_t), 2262 (past nanoseconds),
// 2999 and RFC 5280's "no expiry" 99991231235959Z.
TEST(CertDatesTest, ReadsEveryYearOfUtcTimeAndGeneralizedTime) {
  const auto& key = testing::idp_keys().key;
  struct Case {
    const char* not_before;
    const char* not_after;
    const char* from;
    const char* to;
  };
  for (const Case& c : {
           Case{"500101000000Z", "491231235959Z", "1950-01-01T00:00:00Z", "2049-12-31T23:59:59Z"},
           Case{"19500101000000Z", "20380119031408Z", "1950-01-01T00:00:00Z",
                "2038-01-19T03:14:08Z"},
           Case{"20261203000000Z", "22620411234717Z", "2026-12-03T00:00:00Z",
                "2262-04-11T23:47:17Z"},
           Case{"20261203000000Z", "29990823065701Z", "2026-12-03T00:00:00Z",
                "2999-08-23T06:57:01Z"},
           Case{"20261203000000Z", "99661231000000Z", "2026-12-03T00:00:00Z",
                "9966-12-31T00:00:00Z"},
           Case{"20261203000000Z", "99991231235959Z", "2026-12-03T00:00:00Z",
                "9999-12-31T23:59:59Z"},
           Case{"00000101000000Z", "99991231235959Z", "0000-01-01T00:00:00Z",
                "9999-12-31T23:59:59Z"},
       }) {
    auto cert = testing::dated_cert(key, c.not_before, c.not_after);
    ASSERT_TRUE(cert) << c.not_after;
    EXPECT_EQ(when(cert.not_before()), c.from) << c.not_before;
    EXPECT_EQ(when(cert.not_after()), c.to) << c.not_after;
    EXPECT_LT(cert.not_before(), cert.not_after()) << c.not_after;
  }
}

// A certificate valid until 9999 is valid now and in 3000, and not after 9999 ends.
TEST(CertDatesTest, FarFutureExpiryComparesAsFuture) {
  auto cert = testing::dated_cert(testing::idp_keys().key, "20261203000000Z", "99991231235959Z");
  EXPECT_LT(*core::parse_datetime("2027-01-01T00:00:00Z"), cert.not_after());
  EXPECT_LT(*core::parse_datetime("3000-01-01T00:00:00Z"), cert.not_after());
  EXPECT_GE(core::kMaxDate, cert.not_after());
  EXPECT_EQ(cert.not_after() - cert.not_before(),
            *core::parse_datetime("9999-12-31T23:59:59Z") -
                *core::parse_datetime("2026-12-03T00:00:00Z"));
}

// A certificate we make ourselves ending past 2262 reads back with its year.
TEST(CertDatesTest, SelfSignedPast2262KeepsItsYear) {
  auto nb = *core::parse_datetime("2999-08-23T06:57:01Z");
  auto cert = Certificate::self_signed(testing::idp_keys().key, "far", nb, 365 * 7000);
  ASSERT_TRUE(cert.has_value()) << cert.error().message;
  EXPECT_EQ(when(cert->not_before()), "2999-08-23T06:57:01Z");
  EXPECT_EQ(when(cert->not_after()), "9994-12-30T06:57:01Z");
  auto again = Certificate::from_pem(cert->to_pem());
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->not_after(), cert->not_after());
}

}  // namespace
}  // namespace cg::crypto
