// Our SP metadata: the EntityDescriptor an IdP imports (or fetches from /saml/metadata).
#pragma once

#include <string>

#include "saml/config.h"

namespace cg::saml {

// Publishes the current certificate and, during a rollover, the next one, for signing and for
// encryption; HTTP-POST ACS, HTTP-Redirect SLO; AuthnRequestsSigned and WantAssertionsSigned.
std::string sp_metadata_xml(const SpConfig& sp);

}  // namespace cg::saml
