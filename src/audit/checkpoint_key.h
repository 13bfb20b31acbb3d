// The audit checkpoint key: an EC P-256 key of the audit writer's own, kept apart from the
// keyring (which every request uses and gateways share). Only the audit writer loads the
// private key; `claimgate audit verify` checks checkpoints against a public key the operator
// pinned (docs/audit.md, "Checkpoint key").
//
// On disk: the private key as PKCS#8 PEM (mode 0600), created on the first start, and its
// public key as SPKI PEM beside it (<file>.pub, mode 0644) for the operator to copy and pin.
// A key is named by the SHA-256 of its SPKI DER (`openssl pkey -pubout -outform DER |
// sha256sum` prints the same), and its id is "cp-" + the first 16 hex digits of that.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"
#include "crypto/keys.h"

namespace cg::audit {

struct CheckpointKey {
  crypto::PrivateKey key;  // empty for a public key only (what verify holds)
  crypto::PublicKey public_key;
  std::string spki_der;  // SubjectPublicKeyInfo, DER
  std::string sha256;    // hex SHA-256 of spki_der
  std::string id;        // "cp-" + sha256's first 16 hex digits

  static Result<CheckpointKey> generate();
  static Result<CheckpointKey> from_private(crypto::PrivateKey key);
  static Result<CheckpointKey> from_public(crypto::PublicKey key);
  // A P-256 SubjectPublicKeyInfo (DER), as the records carry it (base64url).
  static Result<CheckpointKey> from_spki_der(std::string_view der);
  // PEM text holding "PRIVATE KEY" (PKCS#8, or EC) or "PUBLIC KEY" (SPKI).
  static Result<CheckpointKey> from_pem(std::string_view pem);
  // Reads the private key at `path`; when the file does not exist, creates it (0600, the
  // directory 0700 when it is made) and <path>.pub. `created` says which.
  static Result<CheckpointKey> load_or_create(const std::string& path, bool* created = nullptr);

  std::string public_pem() const;
  std::string spki_base64url() const;
};

// The default place of a log's checkpoint key: audit-checkpoint.pem in the log's directory.
std::string default_checkpoint_key_path(const std::string& log_path);

// What `--checkpoint-key` names: a private or public key PEM file, or "sha256:<64 hex>" (the
// fingerprint the gateway prints at start). Returns the pinned hex SHA-256.
Result<std::string> checkpoint_pin(const std::string& arg);

}  // namespace cg::audit
