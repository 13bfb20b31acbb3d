#include "saml/name_id.h"

#include "core/encoding.h"
#include "saml/errors.h"
#include "xml/errors.h"
#include "xml/names.h"
#include "xml/node.h"

namespace cg::saml {
namespace {

namespace ns = xml::ns;
using core::clip;

// The NameID inside an EncryptedID, decrypted and put in its place.
Result<xmlNode*> decrypt_encrypted_id(xml::Document& doc, xmlNode* enc, const NameIdRules& rules,
                                      std::string& detail) {
  xmlNode* data = xml::first_child(enc, ns::kXenc, "EncryptedData");
  if (!data)
    return fail(xml::Code::kEncryptionStructure,
                "the <EncryptedID> in " + rules.where + " holds no <xenc:EncryptedData>");
  xml::DecryptPolicy policy{rules.allow_rsa15, rules.allow_tripledes, "NameID"};
  CG_TRY(auto plain, xml::decrypt(data, rules.decryption_keys, policy));
  detail = "decrypted (" + plain.data_algorithm + ", key transport " + plain.key_transport + ")";
  CG_TRY(xmlNode * n, doc.replace_with_fragment(enc, plain.plaintext, rules.limits));
  if (!xml::is(n, ns::kSaml, "NameID") || xml::first_element(n))
    return fail(Code::kSubjectMissing,
                "the <EncryptedID> in " + rules.where +
                    " does not hold a plain <saml:NameID> (it decrypted to <" +
                    std::string(xml::local_name(n)) + "> in '" + clip(xml::ns_uri(n)) + "')");
  return n;
}

}  // namespace

Status check_sp_name_qualifier(std::string_view sp_name_qualifier, std::string_view sp_entity_id,
                               std::string_view affiliation_id, std::string_view where) {
  if (sp_name_qualifier.empty() || sp_name_qualifier == sp_entity_id) return {};
  if (!affiliation_id.empty() && sp_name_qualifier == affiliation_id) return {};
  return fail(Code::kSpNameQualifier,
              "the NameID in " + std::string(where) + " was issued for another SP: its " +
                  "SPNameQualifier is '" + clip(sp_name_qualifier) + "', expected this SP's " +
                  "entity id '" + std::string(sp_entity_id) + "'" +
                  (affiliation_id.empty()
                       ? std::string()
                       : ", or its affiliation's '" + std::string(affiliation_id) + "'") +
                  " (or none); the IdP application's SP entity id must be saml.sp.entity_id");
}

Result<NameId> read_name_id(xml::Document& doc, xmlNode* parent, const NameIdRules& rules) {
  auto plain = xml::children(parent, ns::kSaml, "NameID");
  auto encrypted = xml::children(parent, ns::kSaml, "EncryptedID");
  size_t count = plain.size() + encrypted.size();
  if (count == 0)
    return fail(Code::kSubjectMissing, rules.where + " has no <NameID> (nor <EncryptedID>)");
  if (count > 1)
    return fail(Code::kSubjectMissing, rules.where + " holds " + std::to_string(count) +
                                           " NameID/EncryptedID elements; expected exactly one");
  NameId out;
  xmlNode* nid = plain.empty() ? nullptr : plain.front();
  if (!nid) {
    // The Subject (or the LogoutRequest) was covered by a verified signature before this runs:
    // what it decrypts to is as trusted as the element that carried it.
    CG_TRY(nid, decrypt_encrypted_id(doc, encrypted.front(), rules, out.decrypted));
    out.encrypted = true;
  }
  out.value = xml::trimmed_text(nid);
  out.format = xml::attr(nid, "Format");
  out.name_qualifier = xml::attr(nid, "NameQualifier");
  out.sp_name_qualifier = xml::attr(nid, "SPNameQualifier");
  if (out.value.empty())
    return fail(Code::kSubjectMissing, "the <NameID> in " + rules.where + " is empty");
  CG_CHECK(check_sp_name_qualifier(out.sp_name_qualifier, rules.sp_entity_id, rules.affiliation_id,
                                   rules.where));
  return out;
}

}  // namespace cg::saml
