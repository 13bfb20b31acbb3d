// Authenticated encryption (AES-256-GCM) for sealed cookies and other opaque references.
// A sealed blob is nonce (12 bytes) || ciphertext || tag (16 bytes); the associated data is
// bound in but not carried.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/random.h"
#include "core/result.h"

namespace cg::crypto {

inline constexpr size_t kAeadKeyBytes = 32;
inline constexpr size_t kAeadNonceBytes = 12;
inline constexpr size_t kAeadTagBytes = 16;
using AeadKey = std::array<uint8_t, kAeadKeyBytes>;

std::string aead_seal(const AeadKey& key, std::string_view plaintext, std::string_view aad,
                      core::Random& random);
// Fails with crypto.open_failed when the blob was altered, sealed under another key or with
// other associated data.
Result<std::string> aead_open(const AeadKey& key, std::string_view sealed, std::string_view aad);

}  // namespace cg::crypto
