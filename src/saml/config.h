// The `saml:` section of the config (and `public_url`), compiled into immutable settings.
//
//   public_url: https://ml.example.org        # what browsers and the IdP see
//   saml:
//     sp:
//       entity_id: https://ml.example.org/saml/metadata   # default: public_url + /saml/metadata
//       signing_key: sp.key                    # PEM private key (signs AuthnRequests, decrypts)
//       signing_cert: sp.crt                   # PEM certificate published in our metadata
//       next_signing_key: sp-next.key          # optional: the next pair, during a rollover
//       next_signing_cert: sp-next.crt         # (default: sp.next.key / sp.next.crt, if there)
//       rollover_window: 7d                    # a staged pair waits this long to be promoted
//       name_id_format: urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified   # optional
//       affiliation_id: https://ml.example.org/affiliation   # optional: an SPNameQualifier
//                                              # that may name it instead of entity_id
//       sign_authn_requests: true              # default true
//       want_assertions_signed: true           # default true (published in our metadata)
//     clock_skew: 180s                         # default 180s
//     max_assertion_age: 5m                    # default 5m
//     allow_rsa15: false                       # RSA PKCS#1 v1.5 key transport; default false
//     idps:
//       - name: corp                           # short name, used in URLs (?idp=corp)
//         metadata_file: okta.xml              # path, relative to this config file
//         metadata_url: https://idp/metadata   # fetched and refreshed by the gateway; then
//                                              # metadata_file is the last good copy
//                                              # (default <name>-metadata.xml beside the config)
//         metadata_ca_file: ca.pem             # CA for the fetch (default: the system store)
//         metadata_refresh: 1h                 # at most this long between fetches (the
//                                              # document's cacheDuration can shorten it)
//         entity_id: http://www.okta.com/exk1  # optional: pick one from an aggregate
//         allow_idp_initiated: false           # default false
//         allow_sha1: false                    # default false
//         allow_tripledes: false               # 3DES-CBC encryption from this IdP; default false
//         ignore_cert_dates: false             # trust expired IdP certificates; default false
//         allow_missing_audience: false        # default false
//         metadata_signing_cert: fed.crt       # optional: metadata must be signed by this
//         required_claims: [name_id, groups]   # default: NameID and the claims the role
//                                              # bindings read
//         user_id: [uid, email, nameid]        # where the user id comes from, in order: an
//                                              # attribute (Name, FriendlyName or the policy's
//                                              # claim alias) or nameid (persistent, email or
//                                              # unspecified format only; transient never).
//                                              # Default [nameid]
//         attribute_map:                       # IdP attribute Name or FriendlyName -> the
//           memberOf: groups                   # claim name the policy uses
//         graph:                               # Entra ID groups overage: read them from Graph
//           tenant_id: 0000-...
//           client_id: 1111-...
//           client_secret_file: graph.secret   # or $CLAIMGATE_GRAPH_SECRET
//           # token_url, api_url (defaults: Microsoft's), ca_file, security_enabled_only: true
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
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

// Where the SP's key pairs live. A rollover (`claimgate certs rollover`) stages the next pair,
// then promotes it: the current pair becomes the previous one, published and able to decrypt
// until its certificate expires. Next and previous are optional files beside the current ones
// ("sp.key" -> "sp.next.key", "sp.previous.key") unless the config names the next pair.
struct SpKeyFiles {
  std::string key, cert;
  std::string next_key, next_cert;
  std::string previous_key, previous_cert;
  std::string rollover_state;  // "sp-rollover.json" beside the key: what was done, when, by whom
};

// The pairs in those files as of `now`: current (required; expired refused), next and
// previous when both their files exist (a previous whose certificate has expired is left out).
struct SpKeys {
  SpKeyPair current;
  std::optional<SpKeyPair> next;
  std::optional<SpKeyPair> previous;
  std::vector<std::string> notes;  // sentences for the operator
};
Result<SpKeys> load_sp_keys(const SpKeyFiles& files, core::WallTime now);
// The files of the `saml.sp` section (paths resolved against `base_dir`).
SpKeyFiles sp_key_files(const YAML::Node& sp, const std::string& base_dir, core::Problems& p);
// "dir/sp.key" + "next" -> "dir/sp.next.key".
std::string sibling_path(const std::string& path, std::string_view tag);

struct SpConfig {
  std::string entity_id;
  std::string acs_url;       // public_url + /saml/acs
  std::string slo_url;       // public_url + /saml/slo
  std::string metadata_url;  // public_url + /saml/metadata
  SpKeyPair current;
  std::optional<SpKeyPair> next;
  std::optional<SpKeyPair> previous;  // after a promote: published, decrypts, never signs
  SpKeyFiles files;
  std::chrono::seconds rollover_window{7 * 86400};  // staged this long before a promote
  std::string name_id_format;
  // The entity id of an SAML affiliation this SP belongs to: a NameID's SPNameQualifier may name
  // it as well as entity_id. "" : none.
  std::string affiliation_id;
  bool sign_authn_requests = true;
  bool want_assertions_signed = true;

  // The keys that decrypt (EncryptedAssertion, EncryptedID): current, then next, then previous.
  std::vector<crypto::PrivateKey> decryption_keys() const;
};

// Microsoft Graph credentials of an Entra ID IdP: when a response carries the groups overage
// link instead of the groups, the gateway reads them from Graph (client credentials,
// GroupMember.Read.All or Directory.Read.All as an application permission).
struct GraphConfig {
  std::string tenant_id;
  std::string client_id;
  std::string client_secret;  // from client_secret_file or $CLAIMGATE_GRAPH_SECRET (never logged)
  std::string token_url;  // default https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token
  std::string api_url = "https://graph.microsoft.com";
  std::string ca_file;                // "" : the system store
  bool security_enabled_only = true;  // as the groups claim's "Security groups" setting
};

struct IdpConfig {
  std::string name;
  std::string metadata_file;     // absolute; with metadata_url: the last good copy
  IdpMetadata metadata;          // as at start (the gateway keeps the refreshed one)
  std::string metadata_url;      // "" : the file is the metadata
  std::string metadata_fetched;  // the document fetched at start (no usable copy), to keep
  std::string metadata_ca_file;
  std::chrono::seconds metadata_refresh{3600};
  MetadataOptions metadata_options;  // how every document of this IdP is checked
  // metadata_url with no usable copy in metadata_file yet: the gateway fetches it at start.
  bool metadata_pending = false;
  bool allow_idp_initiated = false;
  bool allow_sha1 = false;
  // 3DES-CBC content encryption (pysaml2's and SATOSA's default) from this IdP only; warned
  // about by check and at start.
  bool allow_tripledes = false;
  bool allow_missing_audience = false;
  // The claims a sign-in through this IdP must carry ("name_id", attribute names, FriendlyNames
  // or aliases); nullopt: NameID and the claims the policy's role bindings read.
  std::optional<std::vector<std::string>> required_claims;
  // Where the user id (the session's subject) comes from, in order: "nameid" or an attribute.
  std::vector<std::string> user_id{"nameid"};
  // IdP attribute Name or FriendlyName -> the claim name the policy uses, in the order written.
  std::vector<std::pair<std::string, std::string>> attribute_map;
  std::optional<GraphConfig> graph;
};

struct SamlConfig {
  std::string public_url;
  SpConfig sp;
  std::chrono::seconds clock_skew{180};
  std::chrono::seconds max_assertion_age{300};
  bool allow_rsa15 = false;
  std::vector<IdpConfig> idps;
  std::vector<std::string> sp_notes;  // about the SP's key files (a previous pair expired)

  SpSettings sp_settings(const IdpConfig& idp) const;
  // With SP keys other than those read at start (reloaded after a rollover step).
  SpSettings sp_settings(const IdpConfig& idp, const SpConfig& keys) const;
  IdpSettings idp_settings(const IdpConfig& idp) const;
  // With a metadata document other than the one read at start (a refreshed one).
  IdpSettings idp_settings(const IdpConfig& idp, const IdpMetadata& md) const;
  const IdpConfig* find_idp(std::string_view name_or_entity_id) const;
};

// Compiles the sections; every problem goes to `problems` (nothing stops at the first one).
// IdP metadata is loaded and checked as of `now`.
std::optional<SamlConfig> compile_saml_config(const YAML::Node& root, const std::string& base_dir,
                                              core::WallTime now, core::Problems& problems);

}  // namespace cg::saml
