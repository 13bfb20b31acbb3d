// The claims a sign-in must carry: which are found where, and the sentence a refusal says.
#include <gtest/gtest.h>

#include "saml/errors.h"
#include "saml/identity.h"

namespace cg::saml {
namespace {

Identity someone() {
  Identity id;
  id.idp_entity_id = "http://www.okta.com/exk1";
  id.name_id = "dave@example.org";
  id.attributes.push_back(
      {"urn:oid:0.9.2342.19200300.100.1.3", "mail", "email", {"dave@example.org"}});
  id.attributes.push_back({"displayName", "", "", {"Dave Novak"}});
  return id;
}

TEST(RequiredClaimsTest, PresentByNameFriendlyNameAliasOrPolicyAlias) {
  Identity id = someone();
  EXPECT_FALSE(check_required_claims(id, {{{"name_id"}, {}, ""}}));
  EXPECT_FALSE(check_required_claims(id, {{{"email"}, {}, ""}}));        // alias
  EXPECT_FALSE(check_required_claims(id, {{{"mail"}, {}, ""}}));         // FriendlyName
  EXPECT_FALSE(check_required_claims(id, {{{"displayName"}, {}, ""}}));  // Name
  id.attributes.push_back({"https://okta.example.org/claims/ml_groups", "", "", {}});
  // Sent with no value: present (the person is in no group).
  EXPECT_FALSE(check_required_claims(
      id, {{{"groups"}, {"https://okta.example.org/claims/ml_groups"}, "the role bindings read"}}));
}

TEST(RequiredClaimsTest, RefusalNamesTheMissingClaimAndWhatArrived) {
  Identity id = someone();
  auto e = check_required_claims(
      id, {{{"name_id"}, {}, ""},
           {{"groups"}, {"https://okta.example.org/claims/ml_groups"}, "the role bindings read"}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, 4036);
  EXPECT_EQ(e->name, "claims.missing");
  EXPECT_NE(e->message.find("no 'groups' claim (nor https://okta.example.org/claims/ml_groups)"),
            std::string::npos)
      << e->message;
  EXPECT_NE(e->message.find("which the role bindings read"), std::string::npos);
  EXPECT_NE(e->message.find("Attributes that arrived: urn:oid:0.9.2342.19200300.100.1.3 (mail), "
                            "displayName"),
            std::string::npos)
      << e->message;
  EXPECT_NE(e->message.find("NameID 'dave@example.org'"), std::string::npos);
  EXPECT_NE(e->message.find("http://www.okta.com/exk1"), std::string::npos);
  EXPECT_EQ(e->message.find("Dave Novak"), std::string::npos);  // names, never values
  // Every missing claim is named at once.
  auto two = check_required_claims(id, {{{"groups"}, {}, ""}, {{"department"}, {}, ""}});
  ASSERT_TRUE(two);
  EXPECT_NE(two->message.find("no 'groups' claim; no 'department' claim"), std::string::npos)
      << two->message;
  // One of several: found when any arrives, named together when none does.
  EXPECT_FALSE(check_required_claims(id, {{{"groups", "email"}, {}, ""}}));
  auto none =
      check_required_claims(id, {{{"groups", "roles"}, {}, "the role bindings read one of"}});
  ASSERT_TRUE(none);
  EXPECT_NE(none->message.find("none of the claims 'groups', 'roles', which the role bindings "
                               "read one of"),
            std::string::npos)
      << none->message;
}

TEST(RequiredClaimsTest, EntraGroupsOverageHasItsOwnCodeAndAdvice) {
  Identity id = someone();
  id.attributes.push_back(
      {kEntraGroupsLink, "", "", {"https://graph.microsoft.com/v1.0/users/x/getMemberObjects"}});
  id.groups_overage_link = id.attributes.back().values.front();
  auto e = check_required_claims(id, {{{"groups", "roles"}, {}, "the role bindings read one of"}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, 4037);
  EXPECT_EQ(e->name, "claims.groups_overage");
  EXPECT_NE(e->message.find("Assign the groups to the enterprise application"), std::string::npos);
}

}  // namespace
}  // namespace cg::saml
