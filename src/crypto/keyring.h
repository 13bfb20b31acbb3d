// The gateway's keyring: AEAD keys that seal cookies and other opaque references, and ES256
// keys that sign identity JWTs (published in the JWKS). The newest key seals or signs; every
// key opens or verifies, so rotation is adding a key (XMLTooling's DataSealer). The key id
// travels with every sealed value and token and is bound into it.
//
// On disk, a directory (mode 0700) of files:
//   seal-<kid>.key   32 random bytes, base64, one line      (mode 0600)
//   sign-<kid>.pem   an EC P-256 private key, PKCS#8 PEM    (mode 0600)
// Key ids are UTC timestamps with a random suffix ("20261123T010203Z-3f9a"), so their
// order is their age. `claimgate keys rotate` adds a pair; `claimgate keys schedule` (or
// removing its files) retires one: retired pairs move to <dir>/retired/.
//
// A pair may be staged first ("next": seal-<kid>.next.key, sign-<kid>.next.pem): it opens,
// verifies and is published in the JWKS, but never seals or signs. Several gateways sharing
// sessions rotate without signing anyone out by staging, restarting each gateway (now all
// can open the next key), promoting (`claimgate keys promote`: renames the files) and
// restarting each again: at every moment, every gateway opens what any other seals.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/random.h"
#include "core/result.h"
#include "crypto/aead.h"
#include "crypto/keys.h"

namespace cg::crypto {

struct SealingKey {
  std::string id;
  AeadKey key{};
  bool next = false;  // staged: opens, never seals
};

struct SigningKey {
  std::string id;
  PrivateKey key;
  PublicKey public_key;
  bool next = false;  // staged: verifies and is published, never signs
};

class Keyring {
 public:
  // Reads every key in `dir`. Fails when the directory holds no sealing or no signing key.
  // `warnings` receives sentences for an operator (files readable by others, stray files).
  // `with_retired`: the pairs in <dir>/retired too (audit verification of old checkpoints).
  static Result<Keyring> load(const std::string& dir, std::vector<std::string>* warnings = nullptr,
                              bool with_retired = false);
  // Writes a new sealing and signing key (one key id) into `dir`, creating it. Returns the id.
  // With `next`, the pair is staged (see above).
  static Result<std::string> add_keys(const std::string& dir, core::WallTime now,
                                      core::Random& random, bool next = false);
  // Makes every staged pair in `dir` an ordinary one (the newest then seals and signs from
  // the next start). Returns the ids promoted.
  static Result<std::vector<std::string>> promote(const std::string& dir);
  // Moves the pair `id` to <dir>/retired: the gateway no longer opens or verifies anything
  // with it; `claimgate audit verify` still reads it for the checkpoints it signed. Refuses
  // the current pair.
  static Status retire(const std::string& dir, std::string_view id);
  // A keyring held only in memory (tests, and deployments that accept sign-outs on restart).
  static Keyring generate(core::WallTime now, core::Random& random);

  const SealingKey& current_sealing() const { return sealing_.back(); }
  const SigningKey& current_signing() const { return signing_.back(); }
  const SealingKey* find_sealing(std::string_view id) const;
  const SigningKey* find_signing(std::string_view id) const;
  // Staged keys first, then the others oldest first (the last is the current one).
  const std::vector<SealingKey>& sealing_keys() const { return sealing_; }
  const std::vector<SigningKey>& signing_keys() const { return signing_; }

  // "<kid>.<base64url(nonce|ciphertext|tag)>", sealed under the current key. `purpose`
  // (e.g. "session-cookie:cg_session") and the key id are the associated data, so a value
  // sealed for one purpose never opens for another.
  std::string seal(std::string_view plaintext, std::string_view purpose,
                   core::Random& random) const;
  Result<std::string> open(std::string_view sealed, std::string_view purpose) const;

 private:
  std::vector<SealingKey> sealing_;
  std::vector<SigningKey> signing_;
};

// A new key id for `now`.
std::string new_key_id(core::WallTime now, core::Random& random);
// When a key id was made (its timestamp), or nullopt for an id not made by new_key_id.
std::optional<core::WallTime> key_id_time(std::string_view id);

}  // namespace cg::crypto
