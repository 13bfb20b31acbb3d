#include "crypto/keyring.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <limits>

#include "core/encoding.h"
#include "crypto/aead.h"
#include "crypto/jwt.h"
#include "support/deterministic_random.h"
#include "support/saml_fixture.h"

namespace cg::crypto {
namespace {

using cg::testing::DeterministicRandom;
using cg::testing::test_now;

std::string temp_dir(const char* name) {
  auto d = std::filesystem::temp_directory_path() /
           ("cg-keyring-" + std::string(name) + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  return d.string();
}

// Sealed data opens with the same key and associated data only; any altered byte fails.
TEST(AeadTest, OpensOnlyWhatItSealed) {
  DeterministicRandom rnd;
  AeadKey k{}, other{};
  k[0] = 1;
  other[0] = 2;
  std::string sealed = aead_seal(k, "session-id", "purpose", rnd);
  EXPECT_EQ(sealed.size(), kAeadNonceBytes + 10 + kAeadTagBytes);
  EXPECT_EQ(*aead_open(k, sealed, "purpose"), "session-id");
  EXPECT_FALSE(aead_open(other, sealed, "purpose").has_value());
  EXPECT_FALSE(aead_open(k, sealed, "other purpose").has_value());
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string t = sealed;
    t[i] ^= 0x01;
    EXPECT_FALSE(aead_open(k, t, "purpose").has_value()) << "byte " << i;
  }
  EXPECT_EQ(aead_open(k, "short", "purpose").error().name, "crypto.open_failed");
}

// The newest key seals; older keys still open (rotation = adding a key); a value sealed for
// one purpose never opens for another.
TEST(KeyringTest, RotationKeepsOldValuesOpen) {
  DeterministicRandom rnd;
  std::string dir = temp_dir("rotate");
  auto first = Keyring::add_keys(dir, test_now(), rnd);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  auto ring1 = Keyring::load(dir);
  ASSERT_TRUE(ring1.has_value()) << ring1.error().message;
  std::string old_value = ring1->seal("abc", "session-cookie:cg", rnd);
  EXPECT_TRUE(old_value.starts_with(*first + "."));

  auto second = Keyring::add_keys(dir, test_now() + std::chrono::hours(24), rnd);
  ASSERT_TRUE(second.has_value());
  auto ring2 = Keyring::load(dir);
  ASSERT_TRUE(ring2.has_value());
  EXPECT_EQ(ring2->current_sealing().id, *second);
  EXPECT_EQ(ring2->current_signing().id, *second);
  EXPECT_EQ(ring2->sealing_keys().size(), 2u);
  EXPECT_EQ(*ring2->open(old_value, "session-cookie:cg"), "abc");
  EXPECT_TRUE(ring2->seal("x", "p", rnd).starts_with(*second + "."));
  EXPECT_FALSE(ring2->open(old_value, "pending-cookie").has_value());

  // Retiring the old key (removing its file) makes its values unknown, with that reason.
  std::filesystem::remove(dir + "/seal-" + *first + ".key");
  auto ring3 = Keyring::load(dir);
  ASSERT_TRUE(ring3.has_value());
  EXPECT_EQ(ring3->open(old_value, "session-cookie:cg").error().name, "crypto.unknown_key");
  // Key files are private to the gateway.
  struct stat st {};
  ASSERT_EQ(::stat((dir + "/sign-" + *second + ".pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::filesystem::remove_all(dir);
}

// Ids order the ring, so keys made in the same second (a scheduled step right after the first
// key, a test) or by a clock that went back still sort in the order they were made: the newest
// is current, whatever its random suffix. (It once retired the current key instead.)
TEST(KeyringTest, KeysMadeInTheSameSecondOrEarlierSortAfterTheNewest) {
  DeterministicRandom rnd;
  std::string dir = temp_dir("same-second");
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    auto at = test_now() - std::chrono::seconds(i % 2);  // the same second, or one earlier
    auto id = Keyring::add_keys(dir, at, rnd);
    ASSERT_TRUE(id.has_value()) << id.error().message;
    if (!ids.empty()) {
      EXPECT_GT(*id, ids.back());
    }
    ids.push_back(*id);
    auto ring = Keyring::load(dir);
    ASSERT_TRUE(ring.has_value()) << ring.error().message;
    EXPECT_EQ(ring->current_sealing().id, *id);
    EXPECT_EQ(ring->current_signing().id, *id);
  }
  // Retired keys count too: a key made after one was retired still sorts after it.
  ASSERT_TRUE(Keyring::retire(dir, ids.front()).has_value());
  auto later = Keyring::add_keys(dir, test_now() - std::chrono::hours(1), rnd);
  ASSERT_TRUE(later.has_value());
  EXPECT_GT(*later, ids.back());
  std::filesystem::remove_all(dir);
}

// A staged (next) pair opens and verifies but never seals or signs; after promotion it is the
// current pair and the old one still opens. So two gateways, one restarted after the promotion
// and one not yet, each open what the other seals (the rotation in docs/deployment.md).
TEST(KeyringTest, StagedKeysOpenBeforeTheySeal) {
  DeterministicRandom rnd;
  std::string dir = temp_dir("staged");
  auto old_id = Keyring::add_keys(dir, test_now(), rnd);
  auto next_id = Keyring::add_keys(dir, test_now() + std::chrono::hours(1), rnd, true);
  ASSERT_TRUE(old_id.has_value() && next_id.has_value());
  EXPECT_TRUE(std::filesystem::exists(dir + "/seal-" + *next_id + ".next.key"));
  auto staged = Keyring::load(dir);  // every gateway after its first restart
  ASSERT_TRUE(staged.has_value()) << staged.error().message;
  EXPECT_EQ(staged->current_sealing().id, *old_id);
  EXPECT_EQ(staged->current_signing().id, *old_id);
  ASSERT_EQ(staged->signing_keys().size(), 2u);  // the JWKS publishes the next key too
  EXPECT_TRUE(staged->find_signing(*next_id) && staged->find_signing(*next_id)->next);

  auto promoted = Keyring::promote(dir);
  ASSERT_TRUE(promoted.has_value());
  EXPECT_EQ(*promoted, std::vector<std::string>{*next_id});
  EXPECT_TRUE(Keyring::promote(dir)->empty());
  auto after = Keyring::load(dir);  // a gateway restarted after the promotion
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->current_sealing().id, *next_id);
  EXPECT_FALSE(after->current_sealing().next);
  std::string from_new = after->seal("sid-1", "session-cookie:cg", rnd);
  std::string from_old = staged->seal("sid-2", "session-cookie:cg", rnd);
  EXPECT_TRUE(from_new.starts_with(*next_id + "."));
  EXPECT_EQ(*staged->open(from_new, "session-cookie:cg"), "sid-1");
  EXPECT_EQ(*after->open(from_old, "session-cookie:cg"), "sid-2");

  // Only staged keys: refused, with the command that fixes it.
  std::string only = temp_dir("only-staged");
  ASSERT_TRUE(Keyring::add_keys(only, test_now(), rnd, true).has_value());
  auto refused = Keyring::load(only);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("claimgate keys promote"), std::string::npos);
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(only);
}

// A retired pair leaves the keyring the gateway loads (nothing opens with it) but stays in
// <dir>/retired for verifying the audit checkpoints it signed; the current pair never retires.
TEST(KeyringTest, RetiredKeysStayOnlyForVerification) {
  DeterministicRandom rnd;
  std::string dir = temp_dir("retired");
  auto old_id = Keyring::add_keys(dir, test_now(), rnd);
  auto new_id = Keyring::add_keys(dir, test_now() + std::chrono::hours(24), rnd);
  ASSERT_TRUE(old_id.has_value() && new_id.has_value());
  EXPECT_EQ(key_id_time(*old_id),
            std::optional<core::WallTime>(std::chrono::time_point_cast<core::WallTime::duration>(
                std::chrono::floor<std::chrono::seconds>(test_now()))));
  EXPECT_FALSE(key_id_time("not-a-key-id"));
  auto before = Keyring::load(dir);
  ASSERT_TRUE(before.has_value());
  std::string sealed_old = before->seal("x", "p", rnd);  // sealed with the new key
  auto refused = Keyring::retire(dir, *new_id);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("current"), std::string::npos);
  ASSERT_TRUE(Keyring::retire(dir, *old_id).has_value()) << "retire";
  EXPECT_TRUE(std::filesystem::exists(dir + "/retired/sign-" + *old_id + ".pem"));
  std::vector<std::string> notes;
  auto gateway = Keyring::load(dir, &notes);
  ASSERT_TRUE(gateway.has_value());
  EXPECT_EQ(gateway->signing_keys().size(), 1u);
  EXPECT_FALSE(gateway->find_signing(*old_id));
  EXPECT_TRUE(notes.empty()) << notes.front();  // retired/ is not a stray file
  EXPECT_EQ(*gateway->open(sealed_old, "p"), "x");
  auto verifying = Keyring::load(dir, nullptr, /*with_retired=*/true);
  ASSERT_TRUE(verifying.has_value());
  EXPECT_TRUE(verifying->find_signing(*old_id));
  EXPECT_EQ(verifying->current_signing().id, *new_id);
  std::filesystem::remove_all(dir);
}

// An empty or broken keyring directory is refused with a sentence that says what to do.
TEST(KeyringTest, RefusesEmptyOrBrokenDirectories) {
  std::string dir = temp_dir("broken");
  EXPECT_EQ(Keyring::load(dir).error().name, "crypto.keyring");
  std::filesystem::create_directories(dir);
  auto empty = Keyring::load(dir);
  ASSERT_FALSE(empty.has_value());
  EXPECT_NE(empty.error().message.find("claimgate keys rotate"), std::string::npos);
  ASSERT_TRUE(core::write_file(dir + "/seal-a.key", "not base64 of 32 bytes\n", 0600).has_value());
  EXPECT_NE(Keyring::load(dir).error().message.find("32 bytes"), std::string::npos);
  std::filesystem::remove_all(dir);
}

// ES256 tokens verify with the keyring's JWKS, and every claim check refuses with its reason.
TEST(JwtTest, SignsAndVerifiesWithJwks) {
  DeterministicRandom rnd;
  Keyring ring = Keyring::generate(test_now(), rnd);
  int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(test_now().time_since_epoch()).count();
  nlohmann::json claims = {
      {"iss", "https://gw"}, {"aud", "app"}, {"sub", "alice"}, {"iat", now}, {"exp", now + 300}};
  auto token = jwt_sign_es256(ring.current_signing(), claims);
  ASSERT_TRUE(token.has_value());
  auto verifier = JwtVerifier::from_jwks(jwks_of(ring).dump());
  ASSERT_TRUE(verifier.has_value()) << verifier.error().message;
  JwtExpectations ok{"https://gw", "app"};
  auto got = verifier->verify(*token, test_now(), ok);
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ((*got)["sub"], "alice");

  EXPECT_EQ(verifier->verify(*token, test_now() + std::chrono::seconds(400), ok).error().name,
            "crypto.token_expired");
  EXPECT_EQ(verifier->verify(*token, test_now(), {"https://other", "app"}).error().name,
            "crypto.token_claims");
  EXPECT_EQ(verifier->verify(*token, test_now(), {"https://gw", "other"}).error().name,
            "crypto.token_claims");
  std::string forged = *token;
  forged[forged.size() / 2] = forged[forged.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(verifier->verify(forged, test_now(), ok).has_value());
  // alg "none" and other algorithms are refused before any key is looked at.
  std::string none = core::base64url_encode(std::string(R"({"alg":"none","kid":"x"})")) + "." +
                     core::base64url_encode(claims.dump()) + ".";
  EXPECT_EQ(verifier->verify(none, test_now(), ok).error().name, "crypto.bad_token");
  // A token from another keyring names a key we do not hold.
  Keyring other = Keyring::generate(test_now(), rnd);
  auto foreign = jwt_sign_es256(other.current_signing(), claims);
  EXPECT_EQ(verifier->verify(*foreign, test_now(), ok).error().name, "crypto.unknown_key");
}

// NumericDates at the ends of int64 (and past it, unsigned) compare as far future / far past and
// are named with their clamped year, never overflowing.
TEST(JwtTest, ExtremeNumericDatesNeverOverflow) {
  DeterministicRandom rnd;
  Keyring ring = Keyring::generate(test_now(), rnd);
  auto verifier = JwtVerifier::from_jwks(jwks_of(ring).dump());
  ASSERT_TRUE(verifier.has_value());
  JwtExpectations ok{"https://gw", "app"};
  ok.leeway = std::chrono::seconds(60);
  auto verify = [&](const nlohmann::json& times) {
    nlohmann::json claims = {{"iss", "https://gw"}, {"aud", "app"}, {"sub", "alice"}};
    claims.update(times);
    return verifier->verify(*jwt_sign_es256(ring.current_signing(), claims), test_now(), ok);
  };
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  EXPECT_TRUE(verify({{"exp", kMax}}).has_value());
  EXPECT_TRUE(verify({{"exp", std::numeric_limits<uint64_t>::max()}}).has_value());
  EXPECT_TRUE(verify({{"exp", 32503680000}, {"iat", kMin}, {"nbf", kMin}}).has_value());  // 3000
  auto past = verify({{"exp", kMin}});
  ASSERT_FALSE(past.has_value());
  EXPECT_EQ(past.error().name, "crypto.token_expired");
  EXPECT_NE(past.error().message.find("expired at 0000-01-01T00:00:00Z"), std::string::npos)
      << past.error().message;
  auto future = verify({{"exp", kMax}, {"nbf", kMax}});
  ASSERT_FALSE(future.has_value());
  EXPECT_NE(future.error().message.find("9999-12-31T23:59:59Z, in the future"), std::string::npos)
      << future.error().message;
}

}  // namespace
}  // namespace cg::crypto
