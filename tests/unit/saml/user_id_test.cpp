// Who the user is: the user id from saml.idps[].user_id, in order, never a transient NameID;
// attribute_map renaming the IdP's attributes to the policy's claim names.
#include <gtest/gtest.h>

#include "saml/errors.h"
#include "saml/identity.h"

namespace cg::saml {
namespace {

Identity shib(std::string format = kNameIdTransient) {
  Identity id;
  id.idp_entity_id = "https://idp.example.edu/idp/shibboleth";
  id.name_id = "_4f9d0c2a71";
  id.name_id_format = std::move(format);
  id.attributes.push_back({"urn:oid:0.9.2342.19200300.100.1.1", "uid", "uid", {"jdoe"}, ""});
  id.attributes.push_back(
      {"urn:oid:1.3.6.1.4.1.5923.1.1.1.6", "eduPersonPrincipalName", "", {"jdoe@example.edu"}, ""});
  id.attributes.push_back({"mail", "", "email", {"", "j.doe@example.edu"}, ""});
  return id;
}

std::vector<UserIdSource> sources(std::initializer_list<const char*> names) {
  std::vector<UserIdSource> out;
  for (const char* n : names) out.push_back({n, {}});
  return out;
}

TEST(UserIdTest, NameIdOnlyWhenItNamesTheSamePersonEveryTime) {
  for (const char* f : {kNameIdPersistent, kNameIdEmail, kNameIdUnspecified, ""}) {
    auto u = derive_user_id(shib(f), sources({"nameid"}), "k");
    ASSERT_TRUE(u) << f;
    EXPECT_EQ(*u, "_4f9d0c2a71");
  }
  for (const char* f : {kNameIdTransient, "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"}) {
    auto u = derive_user_id(shib(f), sources({"nameid"}), "saml.idps[shib].user_id");
    ASSERT_FALSE(u) << f;
    EXPECT_EQ(u.error().code, 4039);
    EXPECT_EQ(u.error().name, "claims.no_user_id");
    EXPECT_NE(u.error().message.find(std::string("nameid: its format ") + f), std::string::npos)
        << u.error().message;
    EXPECT_NE(u.error().message.find("saml.idps[shib].user_id"), std::string::npos);
  }
  EXPECT_FALSE(name_id_usable_as_user_id(kNameIdTransient));
  EXPECT_TRUE(name_id_usable_as_user_id(kNameIdPersistent));
}

TEST(UserIdTest, FirstSourceThatYieldsAValueByNameFriendlyNameOrAlias) {
  Identity id = shib();
  EXPECT_EQ(*derive_user_id(id, sources({"urn:oid:0.9.2342.19200300.100.1.1"}), "k"), "jdoe");
  EXPECT_EQ(*derive_user_id(id, sources({"eduPersonPrincipalName"}), "k"), "jdoe@example.edu");
  EXPECT_EQ(*derive_user_id(id, sources({"uid"}), "k"), "jdoe");  // alias / FriendlyName
  // In order: the first that is sent wins, whatever follows.
  EXPECT_EQ(*derive_user_id(id, sources({"subject-id", "eduPersonPrincipalName", "uid"}), "k"),
            "jdoe@example.edu");
  EXPECT_EQ(*derive_user_id(id, sources({"nameid", "uid"}), "k"), "jdoe");  // transient skipped
  // The first non-empty value (an empty one is no user id).
  EXPECT_EQ(*derive_user_id(id, sources({"email"}), "k"), "j.doe@example.edu");
  // The policy's claim aliases: another name the same claim arrives under.
  EXPECT_EQ(*derive_user_id(id, {{"person", {"eduPersonPrincipalName"}}}, "k"),
            "jdoe@example.edu");
}

TEST(UserIdTest, RefusalNamesEverySourceTriedAndTheAttributesThatArrived) {
  Identity id = shib();
  id.attributes.push_back({"subject-id", "", "", {}, ""});
  auto u = derive_user_id(id, {{"pairwise-id", {}}, {"subject-id", {}}, {"upn", {"userPrincipalName"}}, {"nameid", {}}},
                          "saml.idps[shib].user_id");
  ASSERT_FALSE(u);
  const std::string& m = u.error().message;
  EXPECT_NE(m.find("https://idp.example.edu/idp/shibboleth"), std::string::npos) << m;
  EXPECT_NE(m.find("'pairwise-id': not sent"), std::string::npos) << m;
  EXPECT_NE(m.find("'subject-id': sent with no value"), std::string::npos) << m;
  EXPECT_NE(m.find("'upn' (or userPrincipalName): not sent"), std::string::npos) << m;
  EXPECT_NE(m.find("nameid: its format " + std::string(kNameIdTransient)), std::string::npos);
  EXPECT_NE(m.find("Attributes that arrived: urn:oid:0.9.2342.19200300.100.1.1 (uid), "
                   "urn:oid:1.3.6.1.4.1.5923.1.1.1.6 (eduPersonPrincipalName), mail, subject-id"),
            std::string::npos)
      << m;
  EXPECT_EQ(m.find("jdoe"), std::string::npos) << m;  // names, never values
  EXPECT_EQ(m.find("_4f9d0c2a71"), std::string::npos) << m;
}

TEST(UserIdTest, AttributeMapRenamesToThePolicysClaimNames) {
  Identity id = shib();
  id.attributes.push_back({"memberOf", "", "", {"ml-admins"}, ""});
  apply_attribute_map(id, {{"memberOf", "groups"}, {"eduPersonPrincipalName", "eppn"}});
  const Attribute* g = id.find("groups");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->name, "groups");
  EXPECT_EQ(g->alias, "groups");  // the alias follows the new name
  EXPECT_EQ(g->idp_name, "memberOf");
  EXPECT_EQ(id.find("memberOf"), g);  // still found by what the IdP sent
  EXPECT_EQ(id.values("groups"), std::vector<std::string>{"ml-admins"});
  // Matched by FriendlyName; user_id may name either side.
  EXPECT_EQ(*derive_user_id(id, sources({"eppn"}), "k"), "jdoe@example.edu");
  EXPECT_EQ(*derive_user_id(id, sources({"urn:oid:1.3.6.1.4.1.5923.1.1.1.6"}), "k"),
            "jdoe@example.edu");
  // Untouched attributes keep their names; no idp_name.
  const Attribute* uid = id.find("uid");
  ASSERT_NE(uid, nullptr);
  EXPECT_EQ(uid->name, "urn:oid:0.9.2342.19200300.100.1.1");
  EXPECT_TRUE(uid->idp_name.empty());
  // A refusal shows what was renamed.
  auto u = derive_user_id(id, sources({"subject-id"}), "k");
  ASSERT_FALSE(u);
  EXPECT_NE(u.error().message.find("memberOf as groups"), std::string::npos) << u.error().message;
}

}  // namespace
}  // namespace cg::saml
