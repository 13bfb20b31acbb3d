// The NameID of an assertion's Subject or of a LogoutRequest, read in one place for both: a plain
// <saml:NameID>, or a <saml:EncryptedID> decrypted with the SP's keys under the same rules as an
// EncryptedAssertion (algorithms, key transport, the per-IdP 3DES switch, the same codes); then
// its SPNameQualifier checked against this SP (an IdP asserts only for the SP it names).
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "core/result.h"
#include "crypto/keys.h"
#include "xml/document.h"
#include "xml/encryption.h"

typedef struct _xmlNode xmlNode;

namespace cg::saml {

struct NameId {
  std::string value;  // the whole text of the element (a comment cannot cut it short)
  std::string format;
  std::string name_qualifier;
  std::string sp_name_qualifier;
  bool encrypted = false;  // it arrived as an EncryptedID
  std::string decrypted;   // for the record: "decrypted (<data alg>, key transport <uri>)"
};

struct NameIdRules {
  std::string sp_entity_id;         // the SPNameQualifier expected (when one is sent)
  std::string affiliation_id = {};  // also accepted there (saml.sp.affiliation_id), when set
  std::span<const crypto::PrivateKey> decryption_keys;  // current, next, previous
  bool allow_rsa15 = false;                             // saml.allow_rsa15
  bool allow_tripledes = false;                         // saml.idps[].allow_tripledes
  xml::ParseLimits limits = {};
  std::string where;  // for messages: "the assertion's <Subject>", "the LogoutRequest"
};

// Reads the one NameID or EncryptedID child of `parent` (an EncryptedID is replaced in `doc` by
// the NameID it holds). 4014 subject.missing when there is none, more than one, an empty one,
// or an EncryptedID that does not hold a NameID; 3200s when it cannot be decrypted; 4040
// subject.sp_name_qualifier when its SPNameQualifier names another SP.
Result<NameId> read_name_id(xml::Document& doc, xmlNode* parent, const NameIdRules& rules);

// 4040 unless `sp_name_qualifier` is empty, this SP's entity id or its affiliation's.
Status check_sp_name_qualifier(std::string_view sp_name_qualifier, std::string_view sp_entity_id,
                               std::string_view affiliation_id, std::string_view where);

}  // namespace cg::saml
