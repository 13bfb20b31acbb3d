// Dates from 1950 to 9999 in everything an IdP sends: assertion times, metadata validUntil and
// certificate dates. Each is accepted or refused by its real value and named with its real year
// (system_clock's nanoseconds end in 2262 and once turned 2999 into 1830).
#include <gtest/gtest.h>

#include "core/time.h"
#include "saml/idp_metadata.h"
#include "saml/logout.h"
#include "support/dated_cert.h"
#include "support/saml_fixture.h"

namespace cg::saml {
namespace {

using namespace std::chrono_literals;
using testing::replace_once;

core::WallTime at(const char* text) { return *core::parse_datetime(text); }
std::string when(core::WallTime t) { return core::format_datetime(t); }
bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The years of issue 20: before the epoch, past a 32-bit time_t, past nanoseconds, the date an
// IdP sent, and the last one there is.
constexpr const char* kPast = "1950-01-01T00:00:00Z";
constexpr const char* kFuture[] = {"2038-01-19T03:14:08Z", "2262-04-11T23:47:17Z",
                                   "2999-08-23T06:57:01Z", "9999-12-31T23:59:59Z"};

class DatesTest : public testing::SamlTest {
 protected:
  // The spec's Response with `from` replaced by `to` (before signing), signed.
  std::string edited(const ResponseSpec& s, const std::string& from, const std::string& to) {
    std::string x = replace_once(response_xml(s, random_).xml, from, to);
    auto signed_xml = sign_response_xml(x, s, testing::idp_keys().key, testing::idp_keys().cert);
    EXPECT_TRUE(signed_xml.has_value());
    return signed_xml ? *signed_xml : std::string();
  }
  std::string until(const ResponseSpec& s) { return when(s.issue_instant + s.lifetime); }
  std::string before(const ResponseSpec& s) { return when(s.issue_instant - 30s); }
  std::string scd_not_on_or_after(const ResponseSpec& s, const std::string& v) {
    return edited(
        s, "NotOnOrAfter=\"" + until(s) + "\" Recipient=", "NotOnOrAfter=\"" + v + "\" Recipient=");
  }
  std::string conditions(const ResponseSpec& s, const std::string& nb, const std::string& nooa) {
    return edited(s, "<saml:Conditions NotBefore=\"" + before(s) + "\" NotOnOrAfter=\"" + until(s),
                  "<saml:Conditions NotBefore=\"" + nb + "\" NotOnOrAfter=\"" + nooa);
  }
};

// An assertion issued in each year is accepted then, and refused once it has expired, with the
// real dates in the sentence ("expired at 2999-08-23T07:07:01Z (now 2999-08-23T07:10:02Z").
TEST_F(DatesTest, AssertionsIssuedInEveryYearExpireOnTime) {
  sp_.max_assertion_age = 3600s;  // so that expiry, not age, decides
  for (const char* issued : {kPast, kFuture[0], kFuture[1], kFuture[2], "9999-12-31T23:00:00Z"}) {
    auto s = spec();
    s.issue_instant = at(issued);
    s.lifetime = 600s;
    std::string x = build(s);
    clock_.set(s.issue_instant + 5s);
    auto ok = validate(x);
    ASSERT_TRUE(ok.ok()) << issued << ": " << ok.error->message;
    EXPECT_EQ(when(ok.identity->not_on_or_after), until(s)) << issued;
    EXPECT_EQ(when(ok.identity->authn_instant), issued);

    auto late = s.issue_instant + 600s + sp_.clock_skew + 1s;
    clock_.set(late);
    auto r = validate(x);
    ASSERT_FALSE(r.ok()) << issued;
    EXPECT_EQ(r.error->name, "subject.expired") << issued;
    EXPECT_TRUE(has(r.error->message, "expired at " + until(s) + " (now " + when(late)))
        << r.error->message;

    clock_.set(s.issue_instant - 30s - sp_.clock_skew - 10s);
    r = validate(x);
    ASSERT_FALSE(r.ok()) << issued;
    EXPECT_EQ(r.error->name, "assertion.issued_in_future") << issued;
    EXPECT_TRUE(has(r.error->message, std::string(issued).substr(0, 4))) << r.error->message;
  }
}

// The reported bug: SubjectConfirmationData NotOnOrAfter far in the future is in the future,
// and one in 1950 is in the past, named as 1950.
TEST_F(DatesTest, SubjectConfirmationNotOnOrAfterInEveryYear) {
  for (const char* nooa : kFuture) {
    auto r = validate(scd_not_on_or_after(spec(), nooa));
    ASSERT_TRUE(r.ok()) << nooa << ": " << r.error->message;
    EXPECT_EQ(when(r.identity->not_on_or_after), until(spec())) << "Conditions end first";
  }
  auto r = validate(scd_not_on_or_after(spec(), kPast));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->name, "subject.expired");
  EXPECT_TRUE(has(r.error->message,
                  "bearer confirmation expired at 1950-01-01T00:00:00Z (now 2026-06-01T12:00:00Z"))
      << r.error->message;

  // In the year 3000 the 2999 limit is past, and said so with both years.
  auto s = spec();
  s.issue_instant = at("2999-12-31T23:59:58Z");
  clock_.set(at("3000-01-01T00:00:00Z"));
  r = validate(scd_not_on_or_after(s, "2999-08-23T06:57:01Z"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(has(r.error->message,
                  "bearer confirmation expired at 2999-08-23T06:57:01Z (now 3000-01-01T00:00:00Z"))
      << r.error->message;
}

// Conditions NotOnOrAfter in every future year is accepted, 1950 refused; NotBefore in 1950 is
// accepted, in every future year refused naming it.
TEST_F(DatesTest, ConditionsInEveryYear) {
  auto s = spec();
  for (const char* y : kFuture) {
    auto r = validate(conditions(s, before(s), y));
    EXPECT_TRUE(r.ok()) << y << ": " << (r.ok() ? "" : r.error->message);
  }
  auto r = validate(conditions(s, before(s), kPast));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->name, "conditions.expired");
  EXPECT_TRUE(has(r.error->message, "expired at 1950-01-01T00:00:00Z")) << r.error->message;

  r = validate(conditions(s, kPast, until(s)));
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error->message);
  for (const char* y : kFuture) {
    r = validate(conditions(s, y, "9999-12-31T23:59:59Z"));
    ASSERT_FALSE(r.ok()) << y;
    EXPECT_EQ(r.error->name, "conditions.not_yet_valid") << y;
    EXPECT_TRUE(has(r.error->message, std::string("not valid before ") + y)) << r.error->message;
  }
}

// SessionNotOnOrAfter in every future year caps the session at that date (reported with its
// year); in 1950 the IdP session is over.
TEST_F(DatesTest, SessionNotOnOrAfterInEveryYear) {
  auto s = spec();
  for (const char* y : kFuture) {
    auto r = validate(
        edited(s, "SessionIndex=", std::string("SessionNotOnOrAfter=\"") + y + "\" SessionIndex="));
    ASSERT_TRUE(r.ok()) << y << ": " << r.error->message;
    EXPECT_EQ(when(*r.identity->session_not_on_or_after), y);
  }
  auto r = validate(edited(
      s, "SessionIndex=", std::string("SessionNotOnOrAfter=\"") + kPast + "\" SessionIndex="));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->name, "authn.session_expired");
  EXPECT_TRUE(has(r.error->message, "the IdP session ended at 1950-01-01T00:00:00Z"))
      << r.error->message;
}

// An assertion valid until 9999 is remembered by the replay cache only while it could be
// accepted (IssueInstant + max_assertion_age + skew), not for eight thousand years.
TEST_F(DatesTest, ReplayEntryOfAFarFutureAssertionEndsWithItsMaximumAge) {
  auto s = spec();
  std::string x =
      replace_once(response_xml(s, random_).xml, "NotOnOrAfter=\"" + until(s) + "\" Recipient=",
                   "NotOnOrAfter=\"9999-12-31T23:59:59Z\" Recipient=");
  x = replace_once(x, "NotOnOrAfter=\"" + until(s) + "\"><saml:AudienceRestriction",
                   "NotOnOrAfter=\"9999-12-31T23:59:59Z\"><saml:AudienceRestriction");
  x = *sign_response_xml(x, s, testing::idp_keys().key, testing::idp_keys().cert);
  auto r = validate(x);
  ASSERT_TRUE(r.ok()) << r.error->message;
  EXPECT_EQ(when(r.identity->not_on_or_after), "9999-12-31T23:59:59Z");
  EXPECT_EQ(replay_.size(), 1u);
  EXPECT_EQ(outcome(x), "assertion.replayed");
  auto key = std::string(testing::kIdpEntity) + "|" + r.identity->assertion_id;
  auto end = s.issue_instant + sp_.max_assertion_age + sp_.clock_skew;
  EXPECT_FALSE(*replay_.insert_if_absent(key, core::kMaxDate, end - 1s));  // still remembered
  EXPECT_TRUE(*replay_.insert_if_absent("other", core::kMaxDate, end + 1s));
  EXPECT_EQ(replay_.size(), 1u) << "the assertion's entry is gone, only 'other' remains";
  clock_.set(end + 1s);
  EXPECT_EQ(outcome(x), "assertion.too_old");  // and it cannot be accepted again
}

// ---- metadata ----

std::string key_descriptor(const crypto::Certificate& c) {
  return "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>" +
         c.base64_der() + "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>";
}

std::string metadata(const crypto::Certificate& c, const std::string& attrs = "") {
  return "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" "
         "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" entityID=\"https://idp\"" +
         attrs +
         "><md:IDPSSODescriptor "
         "protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">" +
         key_descriptor(c) +
         "<md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" "
         "Location=\"https://idp/sso\"/></md:IDPSSODescriptor></md:EntityDescriptor>";
}

const crypto::Certificate& forever_cert() {
  static crypto::Certificate c =
      testing::dated_cert(testing::idp_keys().key, "00000101000000Z", "99991231235959Z");
  return c;
}

// validUntil in every year: in force before it, expired from it on, named with its year.
TEST(DatesMetadataTest, ValidUntilInEveryYear) {
  for (const char* y : {kPast, kFuture[0], kFuture[1], kFuture[2], kFuture[3]}) {
    std::string md = metadata(forever_cert(), std::string(" validUntil=\"") + y + "\"");
    auto in_force = IdpMetadata::parse(md, at(y) - 1s);
    ASSERT_TRUE(in_force.has_value()) << y << ": " << in_force.error().message;
    EXPECT_EQ(when(*in_force->valid_until), y);
    auto expired = IdpMetadata::parse(md, at(y) + 1s);
    ASSERT_FALSE(expired.has_value()) << y;
    EXPECT_EQ(expired.error().name, "idp.metadata_expired");
    EXPECT_TRUE(has(expired.error().message, std::string("expired at ") + y))
        << expired.error().message;
  }
  // Seen from today: 1950 is past, every future year ahead.
  EXPECT_FALSE(
      IdpMetadata::parse(metadata(forever_cert(), std::string(" validUntil=\"") + kPast + "\""),
                         testing::test_now())
          .has_value());
  for (const char* y : kFuture)
    EXPECT_TRUE(
        IdpMetadata::parse(metadata(forever_cert(), std::string(" validUntil=\"") + y + "\""),
                           testing::test_now())
            .has_value())
        << y;
}

// A cacheDuration of a thousand years (or more than int64 seconds) is a long cache, not an
// overflow.
TEST(DatesMetadataTest, HugeCacheDurationIsLong) {
  auto md = IdpMetadata::parse(metadata(forever_cert(), " cacheDuration=\"P1000Y\""),
                               testing::test_now());
  ASSERT_TRUE(md.has_value()) << md.error().message;
  EXPECT_EQ(*md->cache_duration, std::chrono::seconds(1000LL * 365 * 86400));
  EXPECT_EQ(*parse_xs_duration("P999999999Y999999999Y999999999Y999999999Y"), core::kMaxDuration);
}

// A signing certificate ending in each year: trusted before, refused after with the real
// "valid from X to Y" sentence; one starting in each future year is not valid yet.
TEST(DatesMetadataTest, CertificateDatesInEveryYear) {
  struct Case {
    const char* not_after_asn1;
    const char* not_after;
  };
  for (const Case& c : {Case{"500101000000Z", kPast}, Case{"20380119031408Z", kFuture[0]},
                        Case{"22620411234717Z", kFuture[1]}, Case{"29990823065701Z", kFuture[2]},
                        Case{"99991231235959Z", kFuture[3]}}) {
    auto cert = testing::dated_cert(testing::idp_keys().key, "19000101000000Z", c.not_after_asn1);
    std::string md = metadata(cert);
    auto trusted = IdpMetadata::parse(md, at(c.not_after) - 24h);
    ASSERT_TRUE(trusted.has_value()) << c.not_after << ": " << trusted.error().message;
    EXPECT_EQ(trusted->signing_certs.size(), 1u);
    auto expired = IdpMetadata::parse(md, at(c.not_after) + 24h);
    ASSERT_FALSE(expired.has_value()) << c.not_after;
    EXPECT_EQ(expired.error().name, "idp.certificate_expired");
    EXPECT_TRUE(has(expired.error().message, std::string("is valid from 1900-01-01 to ") +
                                                 std::string(c.not_after).substr(0, 10)))
        << expired.error().message;
    // Today (2026): only the 1950 one is over.
    EXPECT_EQ(IdpMetadata::parse(md, testing::test_now()).has_value(), c.not_after != kPast)
        << c.not_after;
  }
  for (const char* nb : {"20380119031408Z", "22620411234717Z", "29990823065701Z"}) {
    auto cert = testing::dated_cert(testing::idp_keys().key, nb, "99991231235959Z");
    auto md = IdpMetadata::parse(metadata(cert), testing::test_now());
    ASSERT_FALSE(md.has_value()) << nb;
    EXPECT_TRUE(has(md.error().message, " to 9999-12-31; not trusted")) << md.error().message;
    EXPECT_TRUE(has(md.error().message, std::string("valid from ") + std::string(nb).substr(0, 4)))
        << md.error().message;
  }
}

// The validator's own check of the metadata in force: validUntil 2999 is in force in 2026.
TEST_F(DatesTest, MetadataInForceUntil2999) {
  idp_.metadata_valid_until = at(kFuture[2]);
  EXPECT_EQ(outcome(build(spec())), "ok");
  idp_.metadata_valid_until = at(kPast);
  auto r = validate(build(spec()));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(has(r.error->message, "passed its validUntil at 1950-01-01T00:00:00Z"))
      << r.error->message;
}

// ---- logout ----

// A LogoutRequest NotOnOrAfter in 2999 or 9999 is in the future; in 1950 it is past.
TEST(DatesLogoutTest, LogoutRequestNotOnOrAfterInEveryYear) {
  SpConfig idp_side;
  idp_side.entity_id = testing::kIdpEntity;
  idp_side.current = {testing::idp_keys().key, testing::idp_keys().cert};
  IdpSettings idp{testing::kIdpEntity, {testing::idp_keys().cert}, false, false, {}};
  LogoutCheckSettings check{"https://ml.example.org/saml/slo", 180s, 300s};
  auto request = [&](const std::string& nooa) {
    testing::DeterministicRandom rnd;
    auto msg = build_logout_request(
        idp_side, {"https://ml.example.org/saml/slo", "alice@example.org", "", "_s1"}, rnd,
        testing::test_now());
    std::string xml = replace_once(msg.xml, "<samlp:LogoutRequest ",
                                   "<samlp:LogoutRequest NotOnOrAfter=\"" + nooa + "\" ");
    auto url = redirect_url("https://ml.example.org/saml/slo", "SAMLRequest", xml, "rs",
                            &testing::idp_keys().key);
    EXPECT_TRUE(url.has_value());
    auto m = decode_redirect(*url);
    EXPECT_TRUE(m.has_value());
    return validate_logout_request(*m, idp, check, testing::test_now());
  };
  for (const char* y : kFuture) {
    auto info = request(y);
    EXPECT_TRUE(info.has_value()) << y << ": " << info.error().message;
  }
  auto past = request(kPast);
  ASSERT_FALSE(past.has_value());
  EXPECT_TRUE(has(past.error().message, "expired at 1950-01-01T00:00:00Z")) << past.error().message;
}

}  // namespace
}  // namespace cg::saml
