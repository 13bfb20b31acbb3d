// The session cookie's value: the session id sealed (AES-256-GCM) under the keyring's newest
// key, with the key id in front and the cookie name bound in as associated data. It names a
// server-side session and nothing else; no claim ever travels in it.
#pragma once

#include <string>
#include <string_view>

#include "core/random.h"
#include "core/result.h"
#include "crypto/keyring.h"

namespace cg::session {

class CookieCodec {
 public:
  CookieCodec(const crypto::Keyring& ring, std::string cookie_name)
      : ring_(ring), purpose_("session-cookie:" + cookie_name) {}
  std::string seal(std::string_view session_id, core::Random& random) const {
    return ring_.seal(session_id, purpose_, random);
  }
  // The session id, or session.cookie with the reason (tampered, foreign, retired key).
  Result<std::string> open(std::string_view value) const;

 private:
  const crypto::Keyring& ring_;
  std::string purpose_;
};

}  // namespace cg::session
