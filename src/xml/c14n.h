// Exclusive XML Canonicalization 1.0 (without comments) of a subtree, optionally leaving out
// one descendant (the enveloped ds:Signature). Uses libxml2's c14n with a visibility callback,
// so no XPath node set is built (that set is what makes xmlsec's verify slow).
#pragma once

#include <string>
#include <vector>

#include "core/result.h"

typedef struct _xmlNode xmlNode;

namespace cg::xml {

Result<std::string> exc_c14n(xmlNode* subtree, xmlNode* excluded, const std::vector<std::string>& inclusive_prefixes);

}  // namespace cg::xml
