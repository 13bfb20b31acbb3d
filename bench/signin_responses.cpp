// Signed SAML Responses for the sign-in load benchmark (bench/signin_load.py), made in bulk:
// one line on stdin per response ("<InResponseTo> <user>"), one line on stdout (the base64 of
// the Response, assertion signed with RSA-2048/SHA-256 as IdPs sign it). pysaml2 takes ~10 ms a
// response; this takes the cost of one RSA signature.
//
//   signin_responses --key idp.key --cert idp.crt --issuer URL --acs URL --audience URL < ids
#include <iostream>
#include <string>

#include "core/clock.h"
#include "core/encoding.h"
#include "core/random.h"
#include "crypto/keys.h"
#include "saml/response_builder.h"

int main(int argc, char** argv) {
  std::string key_path, cert_path, issuer, acs, audience;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--key") key_path = v;
    if (a == "--cert") cert_path = v;
    if (a == "--issuer") issuer = v;
    if (a == "--acs") acs = v;
    if (a == "--audience") audience = v;
  }
  auto key = cg::crypto::PrivateKey::load(key_path);
  auto cert = cg::crypto::Certificate::load(cert_path);
  if (!key || !cert || issuer.empty() || acs.empty() || audience.empty()) {
    std::cerr << "usage: signin_responses --key K --cert C --issuer URL --acs URL --audience URL\n";
    return 2;
  }
  auto& rnd = cg::core::SystemRandom::instance();
  auto now = cg::core::SystemClock::instance().now();
  std::string request_id, user;
  while (std::cin >> request_id >> user) {
    cg::saml::ResponseSpec s;
    s.issuer = issuer;
    s.destination = s.recipient = acs;
    s.audience = audience;
    s.in_response_to = request_id;
    s.issue_instant = now;
    s.lifetime = std::chrono::seconds(600);
    s.name_id = user;
    s.name_id_format = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";
    s.session_index = "_s" + request_id;
    s.attributes = {{"urn:oid:0.9.2342.19200300.100.1.1", {user}},
                    {"groups", {"bench", "ml-vision-ds"}}};
    auto r = cg::saml::build_response(s, *key, *cert, rnd);
    if (!r) {
      std::cerr << "signin_responses: " << r.error().message << "\n";
      return 1;
    }
    std::cout << cg::core::base64_encode(r->xml) << '\n';
  }
  return 0;
}
