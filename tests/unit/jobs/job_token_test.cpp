#include "jobs/job_token.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "crypto/keyring.h"
#include "support/deterministic_random.h"
#include "support/saml_fixture.h"

namespace cg::jobs {
namespace {

using cg::testing::DeterministicRandom;
using cg::testing::test_now;
using std::chrono::seconds;

crypto::Keyring ring(const char* name, uint64_t seed) {
  auto d = std::filesystem::temp_directory_path() /
           ("cg-jobtoken-" + std::string(name) + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  DeterministicRandom rnd(seed);
  EXPECT_TRUE(crypto::Keyring::add_keys(d.string(), test_now(), rnd));
  auto r = crypto::Keyring::load(d.string());
  EXPECT_TRUE(r);
  return std::move(*r);
}

Job sample(core::WallTime now) {
  Job j;
  j.id = "j0123";
  j.project = "vision";
  j.submitter = "alice";
  j.spec.command = {"torchrun", "train.py"};
  j.spec.workdir = "/w";
  j.spec.pool = "default";
  j.created = now;
  j.deadline = now + std::chrono::hours(1);
  return j;
}

class JobTokenTest : public ::testing::Test {
 protected:
  crypto::Keyring keys_ = ring("main", 1);
  crypto::JwtVerifier verifier_{keys_};
  core::WallTime now_ = test_now();
  Job job_ = sample(now_);
  std::string token_ =
      *mint_job_token(keys_.current_signing(), "https://gw", job_, now_, seconds(900), "j0123.0");
  JobExpectations expect() const {
    JobExpectations e;
    e.pool = "default";
    e.digest = job_.digest();
    e.job_id = job_.id;
    e.project = job_.project;
    return e;
  }
};

// A token verifies with every binding as minted.
TEST_F(JobTokenTest, VerifiesWithItsBindings) {
  auto c = verify_job_token(verifier_, token_, now_, expect());
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->job_id, "j0123");
  EXPECT_EQ(c->project, "vision");
  EXPECT_EQ(c->submitter, "alice");
  EXPECT_EQ(c->pool, "default");
  EXPECT_EQ(c->issuer, "https://gw");
  EXPECT_EQ(c->expires, now_ + seconds(900));
}

// Each binding refuses with its own code: pool, job, project, command.
TEST_F(JobTokenTest, EachBindingRefusesWithItsCode) {
  auto e = expect();
  e.pool = "gpu";
  EXPECT_EQ(verify_job_token(verifier_, token_, now_, e).error().name, "jobs.token_pool");
  e = expect();
  e.job_id = "j9";
  EXPECT_EQ(verify_job_token(verifier_, token_, now_, e).error().name, "jobs.token_job");
  e = expect();
  e.project = "nlp";
  auto r = verify_job_token(verifier_, token_, now_, e);
  EXPECT_EQ(r.error().name, "jobs.token_job");
  EXPECT_NE(r.error().message.find("project 'vision'"), std::string::npos);
  e = expect();
  e.digest = command_digest({"torchrun", "evil.py"}, "/w");
  EXPECT_EQ(verify_job_token(verifier_, token_, now_, e).error().name, "jobs.token_command");
}

// Expiry with skew; the renewal endpoint's allow_expired still checks the signature.
TEST_F(JobTokenTest, ExpiryAndSkew) {
  auto e = expect();
  e.skew = seconds(60);
  EXPECT_TRUE(verify_job_token(verifier_, token_, now_ + seconds(950), e));
  auto late = verify_job_token(verifier_, token_, now_ + seconds(961), e);
  EXPECT_EQ(late.error().name, "jobs.token_expired");
  EXPECT_EQ(verify_job_token(verifier_, token_, now_ - seconds(61), e).error().name,
            "jobs.token_time");
  e.allow_expired = true;
  EXPECT_TRUE(verify_job_token(verifier_, token_, now_ + std::chrono::hours(5), e));
  std::string tampered = token_;
  tampered[tampered.size() / 2] ^= 1;
  EXPECT_FALSE(verify_job_token(verifier_, tampered, now_ + std::chrono::hours(5), e));
}

// The token never outlives the job's deadline.
TEST_F(JobTokenTest, NeverPastTheDeadline) {
  Job j = job_;
  j.deadline = now_ + seconds(100);
  auto t = mint_job_token(keys_.current_signing(), "https://gw", j, now_, seconds(900), "x");
  ASSERT_TRUE(t);
  EXPECT_EQ(peek_job_claims(*t).expires, now_ + seconds(100));
}

// Another keyring's signature, and a token of another use, are refused.
TEST_F(JobTokenTest, ForeignKeysAndOtherUsesRefused) {
  auto other = ring("other", 2);
  auto foreign =
      *mint_job_token(other.current_signing(), "https://gw", job_, now_, seconds(900), "x");
  EXPECT_EQ(verify_job_token(verifier_, foreign, now_, expect()).error().name,
            "jobs.token_unknown_key");
  auto access = *crypto::jwt_sign_es256(
      keys_.current_signing(),
      {{"iss", "https://gw"},
       {"aud", "https://gw"},
       {"sub", "alice"},
       {"cg_use", "access"},
       {"exp",
        std::chrono::duration_cast<seconds>((now_ + seconds(60)).time_since_epoch()).count()}});
  EXPECT_EQ(verify_job_token(verifier_, access, now_, {}).error().name, "jobs.token_invalid");
  EXPECT_EQ(verify_job_token(verifier_, "garbage", now_, {}).error().name, "jobs.token_invalid");
  EXPECT_TRUE(peek_job_claims("garbage").job_id.empty());
}

}  // namespace
}  // namespace cg::jobs
