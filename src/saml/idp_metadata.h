// IdP metadata (SAML 2.0 metadata: EntityDescriptor or EntitiesDescriptor), compiled into what
// validation needs: the entity id, every signing certificate (all trusted at once, so an IdP key
// rollover never breaks sign-in), endpoints, NameID formats and the document's lifetime.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "crypto/keys.h"

namespace cg::saml {

inline constexpr const char* kBindingRedirect =
    "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
inline constexpr const char* kBindingPost = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

struct Endpoint {
  std::string binding;
  std::string location;
  std::string response_location;
};

struct MetadataOptions {
  bool ignore_cert_dates = false;       // trust expired / not-yet-valid certificates anyway
  bool allow_expired_metadata = false;  // use a document past its validUntil
  // When set, the metadata document must carry an enveloped signature by one of these.
  std::vector<crypto::Certificate> metadata_signers;
  std::string entity_id;  // pick this entity from an EntitiesDescriptor (else the only IdP)
};

struct IdpMetadata {
  std::string entity_id;
  std::vector<crypto::Certificate> signing_certs;  // trusted for signatures
  std::vector<crypto::Certificate>
      encryption_certs;  // for encrypting to the IdP (unused by SPs mostly)
  std::vector<crypto::Certificate> rejected_certs;  // present but expired / not yet valid
  std::vector<Endpoint> sso;
  std::vector<Endpoint> slo;
  std::vector<std::string> name_id_formats;
  bool want_authn_requests_signed = false;
  std::optional<core::WallTime> valid_until;
  std::optional<std::chrono::seconds> cache_duration;
  bool signed_document = false;
  std::vector<std::string> warnings;  // sentences for an operator (expired certs, ...)

  const Endpoint* sso_endpoint(std::string_view binding) const;
  const Endpoint* slo_endpoint(std::string_view binding) const;

  static Result<IdpMetadata> parse(std::string_view xml, core::WallTime now,
                                   const MetadataOptions& options = {});
  static Result<IdpMetadata> load(const std::string& path, core::WallTime now,
                                  const MetadataOptions& options = {});
};

// ISO 8601 / xs:duration ("PT6H", "P1D", "P1DT12H30M") as used by cacheDuration.
Result<std::chrono::seconds> parse_xs_duration(std::string_view text);

}  // namespace cg::saml
