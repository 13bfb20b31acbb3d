// Our SP metadata: the EntityDescriptor an IdP imports (or fetches from /saml/metadata).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "saml/config.h"

namespace cg::saml {

// Publishes the current certificate and, during a rollover, the next one (and after a promote
// the previous one, until it expires), for signing and for encryption; HTTP-POST ACS, HTTP-Redirect
// SLO; AuthnRequestsSigned and WantAssertionsSigned.
std::string sp_metadata_xml(const SpConfig& sp);

// What an SP metadata document says of the SP (to compare a running gateway's, or the copy an
// IdP holds, with a config): the entity id, the ACS locations, the signing certificates'
// SHA-256 fingerprints.
struct SpMetadataSummary {
  std::string entity_id;
  std::vector<std::string> acs_urls;
  std::vector<std::string> signing_fingerprints;
};
Result<SpMetadataSummary> read_sp_metadata(std::string_view xml);

}  // namespace cg::saml
