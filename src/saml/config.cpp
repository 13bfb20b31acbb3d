#include "saml/config.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "core/encoding.h"
#include "core/time.h"
#include "saml/errors.h"

namespace cg::saml {
namespace {

Result<SpKeyPair> load_one_pair(const std::string& key_path, const std::string& cert_path) {
  CG_TRY(auto key, crypto::PrivateKey::load(key_path));
  CG_TRY(auto cert, crypto::Certificate::load(cert_path));
  if (!cert.matches(key)) {
    return fail(Code::kSpKeys, key_path + " is not the key of the certificate " + cert_path);
  }
  return SpKeyPair{std::move(key), std::move(cert)};
}

bool exists(const std::string& path) { return !path.empty() && ::access(path.c_str(), F_OK) == 0; }

std::string strip_slash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

std::optional<GraphConfig> compile_graph(const YAML::Node& g, const std::string& path,
                                         const std::string& base, core::Problems& p) {
  if (!g.IsMap()) {
    p.add(path, "", "a mapping with tenant_id, client_id and client_secret_file");
    return std::nullopt;
  }
  core::reject_unknown_keys(
      g, path,
      {"tenant_id", "client_id", "client_secret", "client_secret_file", "client_secret_env",
       "token_url", "api_url", "ca_file", "security_enabled_only"},
      p);
  GraphConfig c;
  c.tenant_id = core::get_string(g, "tenant_id", path, p, true);
  c.client_id = core::get_string(g, "client_id", path, p, true);
  c.token_url =
      core::get_string(g, "token_url", path, p, false,
                       "https://login.microsoftonline.com/" + c.tenant_id + "/oauth2/v2.0/token");
  c.api_url = core::get_string(g, "api_url", path, p, false, c.api_url);
  while (!c.api_url.empty() && c.api_url.back() == '/') c.api_url.pop_back();
  if (g["ca_file"]) c.ca_file = core::get_path(g, "ca_file", path, p, base, true);
  c.security_enabled_only = core::get_bool(g, "security_enabled_only", path, p, true);
  for (const auto* url : {&c.token_url, &c.api_url}) {
    if (url->rfind("https://", 0) != 0 && url->rfind("http://127.0.0.1", 0) != 0) {
      p.add(path, *url, "https:// URLs (a client secret and people's groups travel there)");
    }
  }
  c.client_secret =
      core::get_secret(g, "client_secret", path, p, base, true, "CLAIMGATE_GRAPH_SECRET");
  return c;
}

}  // namespace

std::string sibling_path(const std::string& path, std::string_view tag) {
  auto slash = path.rfind('/');
  auto dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) {
    return path + "." + std::string(tag);
  }
  return path.substr(0, dot) + "." + std::string(tag) + path.substr(dot);
}

SpKeyFiles sp_key_files(const YAML::Node& sp, const std::string& base, core::Problems& p) {
  SpKeyFiles f;
  f.key = core::get_path(sp, "signing_key", "saml.sp", p, base, true);
  f.cert = core::get_path(sp, "signing_cert", "saml.sp", p, base, true);
  if (f.key.empty() || f.cert.empty()) return f;
  f.next_key = core::get_path(sp, "next_signing_key", "saml.sp", p, base, false,
                              sibling_path(f.key, "next"));
  f.next_cert = core::get_path(sp, "next_signing_cert", "saml.sp", p, base, false,
                               sibling_path(f.cert, "next"));
  f.previous_key = sibling_path(f.key, "previous");
  f.previous_cert = sibling_path(f.cert, "previous");
  f.rollover_state = std::filesystem::path(f.key).parent_path().string() + "/sp-rollover.json";
  return f;
}

Result<SpKeys> load_sp_keys(const SpKeyFiles& f, core::WallTime now) {
  SpKeys out;
  CG_TRY(out.current, load_one_pair(f.key, f.cert));
  if (now >= out.current.cert.not_after()) {
    return fail(Code::kSpKeys, "the certificate " + f.cert + " expired on " +
                                   core::format_datetime(out.current.cert.not_after()) +
                                   "; generate a new pair (claimgate certs rollover)");
  }
  if (exists(f.next_key) || exists(f.next_cert)) {
    CG_TRY(out.next, load_one_pair(f.next_key, f.next_cert));
  }
  if (exists(f.previous_key) && exists(f.previous_cert)) {
    auto prev = load_one_pair(f.previous_key, f.previous_cert);
    if (!prev) {
      out.notes.push_back("the previous pair cannot be used: " + prev.error().message);
    } else if (now >= prev->cert.not_after()) {
      out.notes.push_back("the previous certificate " + f.previous_cert + " expired on " +
                          core::format_datetime(prev->cert.not_after()) +
                          ": no longer published (its files may be removed)");
    } else {
      out.previous = std::move(*prev);
    }
  }
  return out;
}

std::vector<crypto::PrivateKey> SpConfig::decryption_keys() const {
  std::vector<crypto::PrivateKey> out{current.key};
  if (next) out.push_back(next->key);
  if (previous) out.push_back(previous->key);
  return out;
}

SpSettings SamlConfig::sp_settings(const IdpConfig& idp) const { return sp_settings(idp, sp); }

SpSettings SamlConfig::sp_settings(const IdpConfig& idp, const SpConfig& keys) const {
  SpSettings s;
  s.entity_id = sp.entity_id;
  s.affiliation_id = sp.affiliation_id;
  s.acs_url = sp.acs_url;
  s.decryption_keys = keys.decryption_keys();
  s.clock_skew = clock_skew;
  s.max_assertion_age = max_assertion_age;
  s.allow_missing_audience = idp.allow_missing_audience;
  s.allow_rsa15 = allow_rsa15;
  return s;
}

IdpSettings SamlConfig::idp_settings(const IdpConfig& idp) const {
  return idp_settings(idp, idp.metadata);
}

IdpSettings SamlConfig::idp_settings(const IdpConfig& idp, const IdpMetadata& md) const {
  IdpSettings s{md.entity_id, md.signing_certs, idp.allow_sha1, idp.allow_idp_initiated,
                md.valid_until};
  s.allow_tripledes = idp.allow_tripledes;
  return s;
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
    core::reject_unknown_keys(sp, "saml.sp",
                              {"entity_id", "signing_key", "signing_cert", "next_signing_key",
                               "next_signing_cert", "name_id_format", "sign_authn_requests",
                               "want_assertions_signed", "rollover_window", "affiliation_id"},
                              p);
    c.sp.entity_id =
        core::get_string(sp, "entity_id", "saml.sp", p, false, c.public_url + "/saml/metadata");
    c.sp.name_id_format = core::get_string(sp, "name_id_format", "saml.sp", p, false);
    c.sp.affiliation_id = core::get_string(sp, "affiliation_id", "saml.sp", p, false);
    if (c.sp.affiliation_id.size() > 1024)
      p.add("saml.sp.affiliation_id", c.sp.affiliation_id.substr(0, 60) + "...",
            "an entity id of at most 1024 characters");
    c.sp.sign_authn_requests = core::get_bool(sp, "sign_authn_requests", "saml.sp", p, true);
    c.sp.want_assertions_signed = core::get_bool(sp, "want_assertions_signed", "saml.sp", p, true);
    c.sp.rollover_window =
        core::get_duration(sp, "rollover_window", "saml.sp", p, c.sp.rollover_window);
    c.sp.files = sp_key_files(sp, base, p);
    SpKeyFiles& f = c.sp.files;
    if (sp["next_signing_key"] && !exists(f.next_key)) {
      p.add("saml.sp.next_signing_key", f.next_key, "no such file");
    }
    if (!f.key.empty() && !f.cert.empty()) {
      auto keys = load_sp_keys(f, now);
      if (!keys) {
        // Each file that does not load is named; else the pair's own problem.
        std::string key_written = core::get_string(sp, "signing_key", "saml.sp", p, true);
        std::string cert_written = core::get_string(sp, "signing_cert", "saml.sp", p, true);
        auto k = crypto::PrivateKey::load(f.key);
        auto cert = crypto::Certificate::load(f.cert);
        if (!k) p.add("saml.sp.signing_key", key_written, k.error().message);
        if (!cert) p.add("saml.sp.signing_cert", cert_written, cert.error().message);
        if (k && cert) p.add("saml.sp.signing_key", key_written, keys.error().message);
      } else {
        c.sp.current = std::move(keys->current);
        c.sp.next = std::move(keys->next);
        c.sp.previous = std::move(keys->previous);
        c.sp_notes = std::move(keys->notes);
      }
    }
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
           "allow_tripledes", "ignore_cert_dates", "allow_missing_audience",
           "metadata_signing_cert", "required_claims", "metadata_url", "metadata_ca_file",
           "metadata_refresh", "graph", "user_id", "attribute_map"},
          p);
      IdpConfig idp;
      idp.name = core::get_string(n, "name", path, p, true);
      idp.metadata_url = core::get_string(n, "metadata_url", path, p, false);
      idp.metadata_file = core::get_string(n, "metadata_file", path, p, idp.metadata_url.empty());
      if (!idp.metadata_url.empty()) {
        if (idp.metadata_url.rfind("https://", 0) != 0 &&
            idp.metadata_url.rfind("http://127.0.0.1", 0) != 0 &&
            idp.metadata_url.rfind("http://localhost", 0) != 0) {
          p.add(path + ".metadata_url", idp.metadata_url,
                "an https:// URL (metadata decides whom we trust: it must not travel in clear)");
        }
        if (idp.metadata_file.empty() && !idp.name.empty()) {
          idp.metadata_file = idp.name + "-metadata.xml";
        }
        if (n["metadata_ca_file"]) {
          idp.metadata_ca_file = core::get_path(n, "metadata_ca_file", path, p, base, true);
        }
        idp.metadata_refresh =
            core::get_duration(n, "metadata_refresh", path, p, idp.metadata_refresh);
        if (idp.metadata_refresh < std::chrono::seconds(60) ||
            idp.metadata_refresh > std::chrono::seconds(7 * 86400)) {
          p.add(path + ".metadata_refresh", std::to_string(idp.metadata_refresh.count()) + "s",
                "from 1m to 7d");
        }
      } else if (n["metadata_ca_file"] || n["metadata_refresh"]) {
        p.add(path, "metadata_ca_file/metadata_refresh", "only with metadata_url");
      }
      idp.allow_idp_initiated = core::get_bool(n, "allow_idp_initiated", path, p, false);
      idp.allow_sha1 = core::get_bool(n, "allow_sha1", path, p, false);
      idp.allow_tripledes = core::get_bool(n, "allow_tripledes", path, p, false);
      idp.allow_missing_audience = core::get_bool(n, "allow_missing_audience", path, p, false);
      if (n["required_claims"]) {
        auto claims = core::get_string_list(n, "required_claims", path, p);
        for (const auto& c : claims) {
          if (c.empty() || c.size() > 512) {
            p.add(path + ".required_claims", c, "claim names of 1 to 512 characters");
          }
        }
        idp.required_claims = std::move(claims);
      }
      if (n["user_id"]) {
        if (!n["user_id"].IsSequence() || n["user_id"].size() == 0) {
          p.add(path + ".user_id", "", "a non-empty list of sources: nameid, or attribute names");
        } else {
          auto sources = core::get_string_list(n, "user_id", path, p);
          for (size_t k = 0; k < sources.size(); ++k) {
            const std::string& s = sources[k];
            if (s.empty() || s.size() > 512) {
              p.add(path + ".user_id", s, "nameid, or an attribute name of 1 to 512 characters");
            }
            if (std::find(sources.begin(), sources.begin() + k, s) != sources.begin() + k) {
              p.add(path + ".user_id", s, "each source once");
            }
          }
          idp.user_id = std::move(sources);
        }
      }
      if (YAML::Node m = n["attribute_map"]; m) {
        if (!m.IsMap()) {
          p.add(path + ".attribute_map", "", "a mapping of IdP attribute name: claim name");
        } else {
          for (const auto& kv : m) {
            std::string from = kv.first.as<std::string>("");
            std::string to = kv.second.IsScalar() ? kv.second.as<std::string>("") : "";
            if (from.empty() || to.empty() || from.size() > 512 || to.size() > 512) {
              p.add(path + ".attribute_map." + from, to,
                    "IdP attribute name (Name or FriendlyName): claim name, 1 to 512 characters");
              continue;
            }
            if (to == "nameid" || to == "name_id") {
              p.add(path + ".attribute_map." + from, to,
                    "a claim name other than nameid / name_id (those name the NameID)");
              continue;
            }
            idp.attribute_map.emplace_back(std::move(from), std::move(to));
          }
        }
      }
      if (YAML::Node g = n["graph"]; g) idp.graph = compile_graph(g, path + ".graph", base, p);
      MetadataOptions mo;
      mo.ignore_cert_dates = core::get_bool(n, "ignore_cert_dates", path, p, false);
      mo.entity_id = core::get_string(n, "entity_id", path, p, false);
      std::string signer = core::get_string(n, "metadata_signing_cert", path, p, false);
      if (!signer.empty()) {
        auto certs = crypto::Certificate::load(
            core::get_path(n, "metadata_signing_cert", path, p, base, false));
        if (!certs)
          p.add(path + ".metadata_signing_cert", signer, certs.error().message);
        else
          mo.metadata_signers.push_back(*certs);
      }
      for (const auto& other : c.idps)
        if (!idp.name.empty() && other.name == idp.name)
          p.add(path + ".name", idp.name, "names must be unique");
      if (idp.metadata_file.empty()) continue;
      std::string as_written = idp.metadata_file;
      idp.metadata_file = core::resolve_path(base, idp.metadata_file);
      p.note_path(path + ".metadata_file", idp.metadata_file);
      idp.metadata_options = mo;
      if (!idp.metadata_url.empty() && ::access(idp.metadata_file.c_str(), F_OK) != 0) {
        idp.metadata_pending = true;  // no copy yet: fetched by the gateway at start
        c.idps.push_back(std::move(idp));
        continue;
      }
      auto md = IdpMetadata::load(idp.metadata_file, now, mo);
      if (!md && !idp.metadata_url.empty()) {
        // A copy that no longer counts (expired, say): a fresh fetch at start may replace it.
        idp.metadata_pending = true;
        idp.metadata.warnings.push_back("the copy in " + idp.metadata_file + " cannot be used (" +
                                        md.error().message + "); fetching " + idp.metadata_url);
        c.idps.push_back(std::move(idp));
        continue;
      }
      if (!md) {
        p.add(path + ".metadata_file", as_written, md.error().message);
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
