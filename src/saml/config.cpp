#include "saml/config.h"

#include "core/time.h"

namespace cg::saml {
namespace {

std::optional<SpKeyPair> load_pair(const YAML::Node& sp, const std::string& key_field,
                                   const std::string& cert_field, const std::string& base,
                                   bool required, core::WallTime now, core::Problems& p) {
  std::string key_path = core::get_string(sp, key_field, "saml.sp", p, required);
  std::string cert_path = core::get_string(sp, cert_field, "saml.sp", p, required);
  if (key_path.empty() && cert_path.empty()) return std::nullopt;
  if (key_path.empty() || cert_path.empty()) {
    p.add("saml.sp." + (key_path.empty() ? key_field : cert_field), "",
          "both the key and the certificate are needed");
    return std::nullopt;
  }
  auto key = crypto::PrivateKey::load(core::resolve_path(base, key_path));
  auto cert = crypto::Certificate::load(core::resolve_path(base, cert_path));
  if (!key) p.add("saml.sp." + key_field, key_path, key.error().message);
  if (!cert) p.add("saml.sp." + cert_field, cert_path, cert.error().message);
  if (!key || !cert) return std::nullopt;
  if (!cert->matches(*key)) {
    p.add("saml.sp." + key_field, key_path,
          "this key does not belong to the certificate " + cert_path);
    return std::nullopt;
  }
  if (now >= cert->not_after()) {
    p.add("saml.sp." + cert_field, cert_path,
          "the certificate expired on " + core::format_datetime(cert->not_after()) +
              "; generate a new pair");
  }
  return SpKeyPair{std::move(*key), std::move(*cert)};
}

std::string strip_slash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

SpSettings SamlConfig::sp_settings(const IdpConfig& idp) const {
  SpSettings s;
  s.entity_id = sp.entity_id;
  s.acs_url = sp.acs_url;
  s.decryption_keys.push_back(sp.current.key);
  if (sp.next) s.decryption_keys.push_back(sp.next->key);
  s.clock_skew = clock_skew;
  s.max_assertion_age = max_assertion_age;
  s.allow_missing_audience = idp.allow_missing_audience;
  s.allow_rsa15 = allow_rsa15;
  return s;
}

IdpSettings SamlConfig::idp_settings(const IdpConfig& idp) const {
  return IdpSettings{idp.metadata.entity_id, idp.metadata.signing_certs, idp.allow_sha1,
                     idp.allow_idp_initiated};
}

const IdpConfig* SamlConfig::find_idp(std::string_view key) const {
  for (const auto& i : idps)
    if (i.name == key || i.metadata.entity_id == key) return &i;
  return nullptr;
}

std::optional<SamlConfig> compile_saml_config(const YAML::Node& root, const std::string& base,
                                              core::WallTime now, core::Problems& p) {
  SamlConfig c;
  size_t before = p.list().size();
  c.public_url = strip_slash(core::get_string(root, "public_url", "", p, true));
  if (!c.public_url.empty() && !c.public_url.starts_with("https://") &&
      !c.public_url.starts_with("http://"))
    p.add("public_url", c.public_url, "an absolute http:// or https:// URL");
  YAML::Node saml = root["saml"];
  if (!saml || !saml.IsMap()) {
    p.add("saml", "", "a mapping with sp and idps is required");
    return std::nullopt;
  }
  core::reject_unknown_keys(saml, "saml",
                            {"sp", "clock_skew", "max_assertion_age", "allow_rsa15", "idps"}, p);
  YAML::Node sp = saml["sp"];
  if (!sp || !sp.IsMap()) {
    p.add("saml.sp", "", "a mapping with entity_id, signing_key and signing_cert is required");
  } else {
    core::reject_unknown_keys(
        sp, "saml.sp",
        {"entity_id", "signing_key", "signing_cert", "next_signing_key", "next_signing_cert",
         "name_id_format", "sign_authn_requests", "want_assertions_signed"},
        p);
    c.sp.entity_id =
        core::get_string(sp, "entity_id", "saml.sp", p, false, c.public_url + "/saml/metadata");
    c.sp.name_id_format = core::get_string(sp, "name_id_format", "saml.sp", p, false);
    c.sp.sign_authn_requests = core::get_bool(sp, "sign_authn_requests", "saml.sp", p, true);
    c.sp.want_assertions_signed = core::get_bool(sp, "want_assertions_signed", "saml.sp", p, true);
    if (auto cur = load_pair(sp, "signing_key", "signing_cert", base, true, now, p))
      c.sp.current = std::move(*cur);
    c.sp.next = load_pair(sp, "next_signing_key", "next_signing_cert", base, false, now, p);
  }
  c.sp.acs_url = c.public_url + "/saml/acs";
  c.sp.slo_url = c.public_url + "/saml/slo";
  c.sp.metadata_url = c.public_url + "/saml/metadata";
  c.clock_skew = core::get_duration(saml, "clock_skew", "saml", p, std::chrono::seconds(180));
  c.max_assertion_age =
      core::get_duration(saml, "max_assertion_age", "saml", p, std::chrono::seconds(300));
  c.allow_rsa15 = core::get_bool(saml, "allow_rsa15", "saml", p, false);

  YAML::Node idps = saml["idps"];
  if (!idps || !idps.IsSequence() || idps.size() == 0) {
    p.add("saml.idps", "", "a list with at least one IdP (name, metadata_file)");
  } else {
    for (size_t i = 0; i < idps.size(); ++i) {
      std::string path = "saml.idps[" + std::to_string(i) + "]";
      const YAML::Node& n = idps[i];
      if (!n.IsMap()) {
        p.add(path, "", "a mapping with name and metadata_file");
        continue;
      }
      core::reject_unknown_keys(
          n, path,
          {"name", "metadata_file", "entity_id", "allow_idp_initiated", "allow_sha1",
           "ignore_cert_dates", "allow_missing_audience", "metadata_signing_cert"},
          p);
      IdpConfig idp;
      idp.name = core::get_string(n, "name", path, p, true);
      idp.metadata_file = core::get_string(n, "metadata_file", path, p, true);
      idp.allow_idp_initiated = core::get_bool(n, "allow_idp_initiated", path, p, false);
      idp.allow_sha1 = core::get_bool(n, "allow_sha1", path, p, false);
      idp.allow_missing_audience = core::get_bool(n, "allow_missing_audience", path, p, false);
      MetadataOptions mo;
      mo.ignore_cert_dates = core::get_bool(n, "ignore_cert_dates", path, p, false);
      mo.entity_id = core::get_string(n, "entity_id", path, p, false);
      std::string signer = core::get_string(n, "metadata_signing_cert", path, p, false);
      if (!signer.empty()) {
        auto certs = crypto::Certificate::load(core::resolve_path(base, signer));
        if (!certs)
          p.add(path + ".metadata_signing_cert", signer, certs.error().message);
        else
          mo.metadata_signers.push_back(*certs);
      }
      for (const auto& other : c.idps)
        if (!idp.name.empty() && other.name == idp.name)
          p.add(path + ".name", idp.name, "names must be unique");
      if (idp.metadata_file.empty()) continue;
      auto md = IdpMetadata::load(core::resolve_path(base, idp.metadata_file), now, mo);
      if (!md) {
        p.add(path + ".metadata_file", idp.metadata_file, md.error().message);
        continue;
      }
      idp.metadata = std::move(*md);
      c.idps.push_back(std::move(idp));
    }
  }
  if (p.list().size() != before) return std::nullopt;
  return c;
}

}  // namespace cg::saml
