#include "cli/saml_commands.h"

#include <sys/stat.h>

#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/clock.h"
#include "core/config.h"
#include "core/encoding.h"
#include "core/random.h"
#include "core/time.h"
#include "saml/authn_request.h"
#include "saml/bindings.h"
#include "saml/config.h"
#include "saml/idp_metadata.h"
#include "saml/response_builder.h"
#include "saml/response_validator.h"
#include "saml/sp_metadata.h"
#include "xml/document.h"
#include "xml/node.h"

namespace cg::cli {
namespace {

using nlohmann::json;

struct ValidateArgs {
  std::string input = "-";
  std::string idp_metadata, sp_entity_id, acs_url, request_id, now, decrypt_key;
  long skew = 180, max_age = 300;
  bool allow_sha1 = false, ignore_cert_dates = false, allow_missing_audience = false;
  bool allow_tripledes = false;
};

std::optional<std::string> read_input(const std::string& path, std::string& err) {
  if (path == "-") {
    std::string s((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    return s;
  }
  auto r = core::read_file(path, 8u << 20);
  if (!r) {
    err = r.error().message;
    return std::nullopt;
  }
  return *r;
}

json error_json(const std::string& code, const std::string& message) {
  return {{"ok", false}, {"code", code}, {"message", message}, {"checks", json::array()}};
}

int run_validate(const ValidateArgs& a) {
  auto usage = [](const std::string& code, const std::string& msg) {
    std::cout << error_json(code, msg).dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    return 2;
  };
  std::unique_ptr<core::ManualClock> pinned;
  const core::Clock* clock = &core::SystemClock::instance();
  if (!a.now.empty()) {
    auto t = core::parse_datetime(a.now);
    if (!t) return usage("usage.now", "--now: " + t.error().message);
    pinned = std::make_unique<core::ManualClock>(*t);
    clock = pinned.get();
  }
  saml::MetadataOptions mo;
  mo.ignore_cert_dates = a.ignore_cert_dates;
  auto md = saml::IdpMetadata::load(a.idp_metadata, clock->now(), mo);
  if (!md) return usage(md.error().name, md.error().message);

  saml::SpSettings sp;
  sp.entity_id = a.sp_entity_id;
  sp.acs_url = a.acs_url;
  sp.clock_skew = std::chrono::seconds(a.skew);
  sp.max_assertion_age = std::chrono::seconds(a.max_age);
  sp.allow_missing_audience = a.allow_missing_audience;
  if (!a.decrypt_key.empty()) {
    auto k = crypto::PrivateKey::load(a.decrypt_key);
    if (!k) return usage(k.error().name, "--decrypt-key: " + k.error().message);
    sp.decryption_keys.push_back(*k);
  }
  saml::IdpSettings idp{md->entity_id, md->signing_certs, a.allow_sha1, a.request_id.empty(),
                        md->valid_until};
  idp.allow_tripledes = a.allow_tripledes;
  saml::ResponseValidator validator(sp, idp, nullptr, *clock);

  std::string err;
  auto input = read_input(a.input, err);
  if (!input) return usage("io", err);
  std::optional<std::string> request_id;
  if (!a.request_id.empty()) request_id = a.request_id;
  saml::ValidationReport report = validator.validate_posted(*input, request_id);

  json out;
  out["ok"] = report.ok();
  out["code"] = report.error ? json(report.error->name) : json(nullptr);
  out["code_number"] = report.error ? json(report.error->code) : json(0);
  out["message"] = report.error ? report.error->message : "the response is valid";
  json checks = json::array();
  for (const auto& c : report.checks)
    checks.push_back(
        {{"check", c.name}, {"result", saml::outcome_name(c.outcome)}, {"detail", c.detail}});
  out["checks"] = checks;
  if (report.identity) {
    const auto& id = *report.identity;
    out["issuer"] = id.idp_entity_id;
    out["name_id"] = id.name_id;
    out["name_id_format"] = id.name_id_format;
    out["session_index"] = id.session_index;
    out["assertion_id"] = id.assertion_id;
    out["authn_instant"] = core::format_datetime(id.authn_instant);
    out["not_on_or_after"] = core::format_datetime(id.not_on_or_after);
    if (id.session_not_on_or_after)
      out["session_not_on_or_after"] = core::format_datetime(*id.session_not_on_or_after);
    json attrs = json::object(), claims = json::object();
    for (const auto& at : id.attributes) {
      attrs[at.name] = at.values;
      if (!at.alias.empty()) claims[at.alias] = at.values;
    }
    out["attributes"] = attrs;
    out["claims"] = claims;
    out["groups_overage"] = id.groups_overage_link ? json(*id.groups_overage_link) : json(nullptr);
    out["signed"] = {{"response", id.response_signed}, {"assertion", id.assertion_signed}};
    out["encrypted"] = id.encrypted;
  } else {
    out["issuer"] = nullptr;
    out["name_id"] = nullptr;
    out["name_id_format"] = nullptr;
    out["session_index"] = nullptr;
    out["attributes"] = json::object();
  }
  for (const auto& w : md->warnings) out["warnings"].push_back(w);
  std::cout << out.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  if (report.ok()) return 0;
  return report.error && report.error->name == "response.decode" ? 2 : 1;
}

std::optional<saml::SamlConfig> load_config(const std::string& path) {
  core::Problems problems;
  auto root = core::load_yaml(path, problems);
  std::optional<saml::SamlConfig> cfg;
  if (root) {
    std::string base = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
    cfg = saml::compile_saml_config(*root, base, core::SystemClock::instance().now(), problems);
  }
  if (!cfg)
    std::cerr << "claimgate: the configuration " << path << " has problems:\n"
              << problems.to_string();
  return cfg;
}

int run_decode(const std::string& input_path) {
  std::string err;
  auto input = read_input(input_path, err);
  if (!input) {
    std::cerr << "claimgate: " << err << "\n";
    return 2;
  }
  std::string text = *input;
  std::string xml_text, relay_state, signed_note;
  if (text.find("SAMLRequest=") != std::string::npos ||
      text.find("SAMLResponse=") != std::string::npos) {
    // Redirect binding (DEFLATE) first; a POST body decodes without inflating.
    auto m = saml::decode_redirect(text);
    if (m) {
      xml_text = m->xml;
      relay_state = m->relay_state;
      signed_note =
          m->sig_alg.empty() ? "unsigned" : "signed with " + m->sig_alg + " (not verified here)";
    } else {
      const char* param =
          text.find("SAMLRequest=") != std::string::npos ? "SAMLRequest" : "SAMLResponse";
      auto x = saml::decode_post_message(text, param);
      if (!x) {
        std::cerr << "claimgate: " << m.error().message << "; as a POST body: " << x.error().message
                  << "\n";
        return 2;
      }
      xml_text = *x;
      auto params = core::parse_query(text);
      if (params)
        if (const auto* rs = core::find_param(*params, "RelayState")) relay_state = rs->value;
    }
  } else {
    auto x = saml::decode_post_message(text, "SAMLResponse");
    if (!x) {
      std::cerr << "claimgate: " << x.error().message << "\n";
      return 2;
    }
    xml_text = *x;
  }
  auto doc = xml::Document::parse(xml_text);
  if (!doc) {
    std::cerr << "claimgate: the decoded message is not well-formed XML (" << doc.error().message
              << "); raw text follows\n";
    std::cout << xml_text << "\n";
    return 1;
  }
  if (!relay_state.empty()) std::cerr << "RelayState: " << relay_state << "\n";
  if (!signed_note.empty()) std::cerr << "Query signature: " << signed_note << "\n";
  std::cout << xml::to_string(doc->root(), true) << "\n";
  return 0;
}

int run_request(const std::string& config, const std::string& idp_name,
                const std::string& binding) {
  auto cfg = load_config(config);
  if (!cfg) return 1;
  const saml::IdpConfig* idp = idp_name.empty() ? &cfg->idps.front() : cfg->find_idp(idp_name);
  if (!idp) {
    std::cerr << "claimgate: no IdP named '" << idp_name << "' in " << config << "\n";
    return 2;
  }
  const char* b = binding == "post" ? saml::kBindingPost : saml::kBindingRedirect;
  const saml::Endpoint* ep = idp->metadata.sso_endpoint(b);
  if (!ep) {
    std::cerr << "claimgate: the IdP publishes no SingleSignOnService for " << b << "\n";
    return 1;
  }
  auto req = saml::build_authn_request(cfg->sp, ep->location, {}, core::SystemRandom::instance(),
                                       core::SystemClock::instance().now());
  auto out = binding == "post" ? saml::authn_request_post_form(cfg->sp, req, "")
                               : saml::authn_request_redirect_url(cfg->sp, req, "");
  if (!out) {
    std::cerr << "claimgate: " << out.error().message << "\n";
    return 1;
  }
  std::cerr << "request id: " << req.id << "\n";
  std::cout << *out << "\n";
  return 0;
}

// Writes a self-contained example: demo IdP keys and metadata, SP keys and config, and a signed
// Response from the demo IdP, all generated now. Nothing here is a committed secret.
int run_demo(const std::string& dir, bool encrypt) {
  ::mkdir(dir.c_str(), 0700);
  auto& rnd = core::SystemRandom::instance();
  core::WallTime now = core::SystemClock::instance().now();
  auto idp_key = crypto::PrivateKey::generate_rsa(2048);
  auto sp_key = crypto::PrivateKey::generate_rsa(2048);
  if (!idp_key || !sp_key) {
    std::cerr << "claimgate: key generation failed\n";
    return 1;
  }
  auto idp_cert = crypto::Certificate::self_signed(*idp_key, "claimgate demo IdP",
                                                   now - std::chrono::hours(1), 365);
  auto sp_cert = crypto::Certificate::self_signed(*sp_key, "claimgate demo SP",
                                                  now - std::chrono::hours(1), 365);
  if (!idp_cert || !sp_cert) {
    std::cerr << "claimgate: certificate generation failed\n";
    return 1;
  }
  const std::string idp_entity = "https://idp.demo.claimgate.test/metadata";
  const std::string public_url = "http://127.0.0.1:8080";
  std::string idp_md =
      std::string(
          "<?xml version=\"1.0\"?>\n<md:EntityDescriptor "
          "xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" "
          "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" entityID=\"") +
      idp_entity +
      "\">\n"
      "  <md:IDPSSODescriptor "
      "protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\n"
      "    <md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>" +
      idp_cert->base64_der() +
      "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\n"
      "    <md:SingleLogoutService Binding=\"" +
      saml::kBindingRedirect +
      "\" Location=\"https://idp.demo.claimgate.test/slo\"/>\n"
      "    "
      "<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>\n"
      "    <md:SingleSignOnService Binding=\"" +
      saml::kBindingRedirect +
      "\" Location=\"https://idp.demo.claimgate.test/sso\"/>\n"
      "  </md:IDPSSODescriptor>\n</md:EntityDescriptor>\n";
  std::string config =
      "# claimgate demo configuration (generated by `claimgate saml demo`)\n"
      "public_url: " +
      public_url +
      "\n"
      "saml:\n  sp:\n    entity_id: " +
      public_url +
      "/saml/metadata\n"
      "    signing_key: sp.key\n    signing_cert: sp.crt\n"
      "  clock_skew: 180s\n  max_assertion_age: 5m\n"
      "  idps:\n    - name: demo\n      metadata_file: idp-metadata.xml\n      "
      "allow_idp_initiated: true\n";
  saml::ResponseSpec spec;
  spec.issuer = idp_entity;
  spec.destination = public_url + "/saml/acs";
  spec.recipient = spec.destination;
  spec.audience = public_url + "/saml/metadata";
  spec.issue_instant = now;
  spec.sign_response = true;
  spec.attributes = {
      {"email", {"alice@example.org"}},
      {"groups", {"ml-vision-ds", "ml-nlp-viewer", "all-staff"}},
      {"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname", {"Alice"}}};
  if (encrypt) spec.encrypt_for = *sp_cert;
  auto resp = saml::build_response(spec, *idp_key, *idp_cert, rnd);
  if (!resp) {
    std::cerr << "claimgate: " << resp.error().message << "\n";
    return 1;
  }
  struct F {
    std::string name, data;
    unsigned mode;
  };
  for (const F& f : {F{"idp.key", idp_key->to_pem(), 0600}, F{"idp.crt", idp_cert->to_pem(), 0644},
                     F{"sp.key", sp_key->to_pem(), 0600}, F{"sp.crt", sp_cert->to_pem(), 0644},
                     F{"idp-metadata.xml", idp_md, 0644}, F{"config.yaml", config, 0644},
                     F{"response.b64", core::base64_encode(resp->xml) + "\n", 0644}}) {
    auto st = core::write_file(dir + "/" + f.name, f.data, f.mode);
    if (!st) {
      std::cerr << "claimgate: " << st.error().message << "\n";
      return 1;
    }
  }
  std::cout << "Wrote a demo IdP, SP and a signed response"
            << (encrypt ? " (assertion encrypted)" : "") << " to " << dir
            << "/\nValidate it with:\n  claimgate saml validate " << dir
            << "/response.b64 --idp-metadata " << dir << "/idp-metadata.xml --sp-entity-id "
            << spec.audience << " --acs-url " << spec.destination
            << (encrypt ? " --decrypt-key " + dir + "/sp.key" : "") << "\n";
  return 0;
}

}  // namespace

void add_saml_commands(CLI::App& app, int& exit_code) {
  auto* saml = app.add_subcommand(
      "saml", "SAML tools: validate a response, print SP metadata, decode messages");
  saml->require_subcommand(1);

  auto a = std::make_shared<ValidateArgs>();
  auto* v = saml->add_subcommand("validate",
                                 "Validate a captured SAMLResponse and print every check as JSON "
                                 "(exit 0 accepted, 1 rejected, 2 usage or input error)");
  v->add_option("input", a->input,
                "file with the SAMLResponse (base64, form body or XML); - for stdin");
  v->add_option("--idp-metadata", a->idp_metadata, "the IdP's metadata XML")
      ->required()
      ->check(CLI::ExistingFile);
  v->add_option("--sp-entity-id", a->sp_entity_id, "this SP's entity id (the expected Audience)")
      ->required();
  v->add_option("--acs-url", a->acs_url, "this SP's ACS URL (expected Destination and Recipient)")
      ->required();
  v->add_option("--request-id", a->request_id,
                "ID of the AuthnRequest sent; without it the response must be unsolicited");
  v->add_option("--now", a->now, "evaluate as of this time (RFC 3339), e.g. 2026-01-31T12:00:00Z");
  v->add_option("--skew", a->skew, "allowed clock skew in seconds (default 180)")
      ->check(CLI::Range(0, 86400));
  v->add_option("--max-age", a->max_age, "maximum assertion age in seconds (default 300)")
      ->check(CLI::Range(1, 31536000));
  v->add_option("--decrypt-key", a->decrypt_key,
                "PEM private key for an EncryptedAssertion or EncryptedID")
      ->check(CLI::ExistingFile);
  v->add_flag("--allow-sha1", a->allow_sha1, "accept SHA-1 signatures and digests");
  v->add_flag("--allow-tripledes", a->allow_tripledes,
              "accept 3DES-CBC encryption (as saml.idps[].allow_tripledes)");
  v->add_flag("--ignore-cert-dates", a->ignore_cert_dates,
              "trust IdP certificates outside their validity dates");
  v->add_flag("--allow-missing-audience", a->allow_missing_audience,
              "accept an assertion with no AudienceRestriction");
  v->callback([a, &exit_code] { exit_code = run_validate(*a); });

  auto config = std::make_shared<std::string>();
  auto* m = saml->add_subcommand("metadata", "Print this SP's metadata (the XML to give the IdP)");
  m->add_option("--config", *config, "claimgate config file")->required()->check(CLI::ExistingFile);
  m->callback([config, &exit_code] {
    auto cfg = load_config(*config);
    if (!cfg) {
      exit_code = 1;
      return;
    }
    std::cout << saml::sp_metadata_xml(cfg->sp);
    exit_code = 0;
  });

  auto input = std::make_shared<std::string>("-");
  auto* d = saml->add_subcommand(
      "decode", "Turn a Redirect-binding URL or query, a POST body or base64 into readable XML");
  d->add_option("input", *input, "file holding the URL, query string or body; - for stdin");
  d->callback([input, &exit_code] { exit_code = run_decode(*input); });

  auto rconfig = std::make_shared<std::string>();
  auto ridp = std::make_shared<std::string>();
  auto rbinding = std::make_shared<std::string>("redirect");
  auto* r = saml->add_subcommand(
      "request", "Print a signed AuthnRequest for an IdP (a Redirect URL or a POST form)");
  r->add_option("--config", *rconfig, "claimgate config file")
      ->required()
      ->check(CLI::ExistingFile);
  r->add_option("--idp", *ridp, "IdP name (default: the first)");
  r->add_option("--binding", *rbinding, "redirect or post")
      ->check(CLI::IsMember({"redirect", "post"}));
  r->callback([rconfig, ridp, rbinding, &exit_code] {
    exit_code = run_request(*rconfig, *ridp, *rbinding);
  });

  auto dir = std::make_shared<std::string>("claimgate-demo");
  auto encrypt = std::make_shared<bool>(false);
  auto* demo = saml->add_subcommand(
      "demo", "Generate demo IdP and SP keys, metadata, a config and a signed response");
  demo->add_option("--out", *dir, "directory to write (default ./claimgate-demo)");
  demo->add_flag("--encrypt", *encrypt, "encrypt the assertion to the demo SP's certificate");
  demo->callback([dir, encrypt, &exit_code] { exit_code = run_demo(*dir, *encrypt); });
}

}  // namespace cg::cli
