// Exclusive XML Canonicalization 1.0, without comments, of a subtree, optionally leaving out one
// descendant (the enveloped ds:Signature): what SAML signatures digest and sign.
//
// exc_c14n serializes the tree directly (one pass, no node set, no per-node callbacks); it is
// checked byte for byte against libxml2's implementation (exc_c14n_reference) by the unit tests
// and by a differential fuzz target (tests/fuzz/fuzz_c14n.cpp).
#pragma once

#include <string>
#include <vector>

#include "core/result.h"

typedef struct _xmlNode xmlNode;

namespace cg::xml {

// `inclusive_prefixes`: the InclusiveNamespaces PrefixList ("#default" for the default namespace).
Result<std::string> exc_c14n(xmlNode* subtree, xmlNode* excluded,
                             const std::vector<std::string>& inclusive_prefixes);

// libxml2's xmlC14NExecute with a visibility callback: the reference the above is tested against.
Result<std::string> exc_c14n_reference(xmlNode* subtree, xmlNode* excluded,
                                       const std::vector<std::string>& inclusive_prefixes);

}  // namespace cg::xml
