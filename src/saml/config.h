// The `saml:` section of the config (and `public_url`), compiled into immutable settings.
//
//   public_url: https://ml.example.org        # what browsers and the IdP see
//   saml:
//     sp:
//       entity_id: https://ml.example.org/saml/metadata   # default: public_url + /saml/metadata
//       signing_key: sp.key                    # PEM private key (signs AuthnRequests, decrypts)
//       signing_cert: sp.crt                   # PEM certificate published in our metadata
//       next_signing_key: sp-next.key          # optional: the next pair, during a rollover
//       next_signing_cert: sp-next.crt
//       name_id_format: urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified   # optional
//       sign_authn_requests: true              # default true
//       want_assertions_signed: true           # default true (published in our metadata)
//     clock_skew: 180s                         # default 180s
//     max_assertion_age: 5m                    # default 5m
//     allow_rsa15: false                       # RSA PKCS#1 v1.5 key transport; default false
//     idps:
//       - name: corp                           # short name, used in URLs (?idp=corp)
//         metadata_file: okta.xml              # path, relative to this config file
//         entity_id: http://www.okta.com/exk1  # optional: pick one from an aggregate
//         allow_idp_initiated: false           # default false
//         allow_sha1: false                    # default false
//         ignore_cert_dates: false             # trust expired IdP certificates; default false
//         allow_missing_audience: false        # default false
//         metadata_signing_cert: fed.crt       # optional: metadata must be signed by this
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/config.h"
#include "crypto/keys.h"
#include "saml/idp_metadata.h"
#include "saml/response_validator.h"

namespace cg::saml {

struct SpKeyPair {
  crypto::PrivateKey key;
  crypto::Certificate cert;
};

struct SpConfig {
  std::string entity_id;
  std::string acs_url;       // public_url + /saml/acs
  std::string slo_url;       // public_url + /saml/slo
  std::string metadata_url;  // public_url + /saml/metadata
  SpKeyPair current;
  std::optional<SpKeyPair> next;
  std::string name_id_format;
  bool sign_authn_requests = true;
  bool want_assertions_signed = true;
};

struct IdpConfig {
  std::string name;
  std::string metadata_file;
  IdpMetadata metadata;
  bool allow_idp_initiated = false;
  bool allow_sha1 = false;
  bool allow_missing_audience = false;
};

struct SamlConfig {
  std::string public_url;
  SpConfig sp;
  std::chrono::seconds clock_skew{180};
  std::chrono::seconds max_assertion_age{300};
  bool allow_rsa15 = false;
  std::vector<IdpConfig> idps;

  SpSettings sp_settings(const IdpConfig& idp) const;
  IdpSettings idp_settings(const IdpConfig& idp) const;
  const IdpConfig* find_idp(std::string_view name_or_entity_id) const;
};

// Compiles the sections; every problem goes to `problems` (nothing stops at the first one).
// IdP metadata is loaded and checked as of `now`.
std::optional<SamlConfig> compile_saml_config(const YAML::Node& root, const std::string& base_dir,
                                              core::WallTime now, core::Problems& problems);

}  // namespace cg::saml
