#include "crypto/keyring.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "core/encoding.h"
#include "core/time.h"
#include "crypto/errors.h"

namespace cg::crypto {
namespace fs = std::filesystem;
namespace {

std::string aad_of(std::string_view purpose, std::string_view kid) {
  std::string aad(purpose);
  aad += '\0';
  aad += kid;
  return aad;
}

bool valid_kid(std::string_view kid) {
  if (kid.empty() || kid.size() > 64) return false;
  return std::all_of(kid.begin(), kid.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-' ||
           c == '_';
  });
}

}  // namespace

std::string new_key_id(core::WallTime now, core::Random& random) {
  std::string t = core::format_datetime(now);  // 2026-11-23T01:02:03Z
  std::string kid;
  for (char c : t) {
    if (c != '-' && c != ':') kid += c;
  }
  auto r = random.bytes(2);
  return kid + "-" + core::hex_encode(r);
}

Result<Keyring> Keyring::load(const std::string& dir, std::vector<std::string>* warnings,
                              bool with_retired) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return fail(Code::kKeyring,
                "keyring directory " + dir + " does not exist or is not a directory");
  }
  Keyring ring;
  size_t staged_seal = 0, staged_sign = 0;
  std::vector<fs::path> files, retired;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().filename() == "retired" && e.is_directory()) {
      // Retired pairs (Keyring::retire): read only to verify old audit checkpoints.
      std::error_code rec;
      if (with_retired) {
        for (const auto& r : fs::directory_iterator(e.path(), rec)) retired.push_back(r.path());
      }
      continue;
    }
    files.push_back(e.path());
  }
  if (ec) return fail(Code::kKeyring, "cannot list keyring directory " + dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  std::sort(retired.begin(), retired.end());
  files.insert(files.begin(), retired.begin(), retired.end());  // older: before the others
  for (const auto& path : files) {
    std::string name = path.filename().string();
    auto note = [&](std::string s) {
      if (warnings) warnings->push_back(std::move(s));
    };
    std::string kid;
    bool is_seal = name.starts_with("seal-") && name.ends_with(".key");
    bool is_sign = name.starts_with("sign-") && name.ends_with(".pem");
    if (!is_seal && !is_sign) {
      note("keyring: ignoring " + path.string() + " (not seal-<id>.key or sign-<id>.pem)");
      continue;
    }
    kid = name.substr(5, name.size() - 9);
    bool next = kid.ends_with(".next");
    if (next) kid.resize(kid.size() - 5);
    if (!valid_kid(kid)) {
      return fail(Code::kKeyring, "keyring file " + path.string() +
                                      ": the key id may hold only letters, digits, '-' and '_'");
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
      note("keyring: " + path.string() + " is readable by other users; chmod 600 it");
    }
    auto text = core::read_file(path.string(), 1 << 16);
    if (!text) return fail(Code::kKeyring, text.error().message);
    if (is_seal) {
      std::string b64 = *text;
      while (!b64.empty() && (b64.back() == '\n' || b64.back() == '\r')) b64.pop_back();
      auto raw = core::base64_decode(b64);
      if (!raw || raw->size() != kAeadKeyBytes) {
        return fail(Code::kKeyring,
                    "keyring file " + path.string() + " must hold 32 bytes in base64 (one line)");
      }
      SealingKey k{kid, {}, next};
      std::copy(raw->begin(), raw->end(), k.key.begin());
      // Staged keys go first: the last key is the current one.
      ring.sealing_.insert(next ? ring.sealing_.begin() + staged_seal++ : ring.sealing_.end(),
                           std::move(k));
    } else {
      auto key = PrivateKey::from_pem(*text);
      if (!key) {
        return fail(Code::kKeyring, "keyring file " + path.string() + ": " + key.error().message);
      }
      if (key->type() != KeyType::kEc || key->public_key().bits() != 256) {
        return fail(Code::kKeyring,
                    "keyring file " + path.string() + " must hold an EC P-256 key (ES256)");
      }
      ring.signing_.insert(next ? ring.signing_.begin() + staged_sign++ : ring.signing_.end(),
                           SigningKey{kid, *key, key->public_key(), next});
    }
  }
  if (staged_seal == ring.sealing_.size() && staged_sign == ring.signing_.size() &&
      staged_seal > 0) {
    return fail(Code::kKeyring, "keyring directory " + dir +
                                    " holds only staged (next) keys; make them current with "
                                    "`claimgate keys promote --dir " +
                                    dir + "`");
  }
  if (ring.sealing_.size() == staged_seal || ring.signing_.size() == staged_sign) {
    return fail(Code::kKeyring,
                "keyring directory " + dir + " holds no " +
                    (ring.sealing_.size() == staged_seal ? "sealing key (seal-<id>.key)"
                                                         : "signing key (sign-<id>.pem)") +
                    "; create one with `claimgate keys rotate --dir " + dir + "`");
  }
  return ring;
}

Result<std::string> Keyring::add_keys(const std::string& dir, core::WallTime now,
                                      core::Random& random, bool next) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return fail(Code::kKeyring, "cannot create keyring directory " + dir + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  // Ids order the ring (the last one is current), so a new id must sort after every key
  // already there, retired ones included: two keys made in the same second (or a clock that
  // went back) would otherwise be ordered by their random suffix.
  core::WallTime at = now;
  auto newest_in = [&](const std::string& d) {
    std::error_code lec;
    for (const auto& e : fs::directory_iterator(d, lec)) {
      std::string name = e.path().filename().string();
      if (name.size() < 5 || (name.rfind("seal-", 0) != 0 && name.rfind("sign-", 0) != 0)) continue;
      if (auto t = key_id_time(std::string_view(name).substr(5));
          t && *t + std::chrono::seconds(1) > at)
        at = *t + std::chrono::seconds(1);
    }
  };
  newest_in(dir);
  newest_in(dir + "/retired");
  std::string kid = new_key_id(at, random);
  auto seal = random.bytes(kAeadKeyBytes);
  auto sign = PrivateKey::generate_ec_p256();
  if (!sign) return fail(sign.take_error());
  // The signing key first: a half-written pair then lacks the sealing key, and the older
  // sealing key keeps sealing.
  std::string stem = kid + (next ? ".next" : "");
  CG_CHECK(core::write_file(dir + "/sign-" + stem + ".pem", sign->to_pem(), 0600));
  CG_CHECK(
      core::write_file(dir + "/seal-" + stem + ".key", core::base64_encode(seal) + "\n", 0600));
  return kid;
}

Result<std::vector<std::string>> Keyring::promote(const std::string& dir) {
  std::error_code ec;
  std::vector<fs::path> staged;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if ((name.starts_with("seal-") && name.ends_with(".next.key")) ||
        (name.starts_with("sign-") && name.ends_with(".next.pem"))) {
      staged.push_back(e.path());
    }
  }
  if (ec) return fail(Code::kKeyring, "cannot list keyring directory " + dir + ": " + ec.message());
  // Sealing keys last: a pair interrupted half-way keeps the older sealing key current.
  std::sort(staged.begin(), staged.end(), [](const fs::path& a, const fs::path& b) {
    bool as = a.filename().string().starts_with("sign-");
    bool bs = b.filename().string().starts_with("sign-");
    return as != bs ? as : a < b;
  });
  std::vector<std::string> ids;
  for (const auto& path : staged) {
    std::string name = path.filename().string();
    std::string plain = name.substr(0, name.size() - 9) + name.substr(name.size() - 4);
    fs::rename(path, path.parent_path() / plain, ec);
    if (ec) {
      return fail(Code::kKeyring, "cannot rename " + path.string() + ": " + ec.message());
    }
    std::string kid = name.substr(5, name.size() - 14);
    if (std::find(ids.begin(), ids.end(), kid) == ids.end()) ids.push_back(kid);
  }
  return ids;
}

Status Keyring::retire(const std::string& dir, std::string_view id) {
  CG_TRY(auto ring, load(dir));
  if (ring.current_sealing().id == id || ring.current_signing().id == id) {
    return fail(Code::kKeyring, "key " + std::string(id) + " is the current one: it cannot retire");
  }
  std::string to = dir + "/retired";
  std::error_code ec;
  fs::create_directories(to, ec);
  if (ec) return fail(Code::kKeyring, "cannot create " + to + ": " + ec.message());
  ::chmod(to.c_str(), 0700);
  bool found = false;
  for (auto [prefix, ext] : {std::pair{"seal-", ".key"}, std::pair{"sign-", ".pem"}}) {
    std::string name = prefix + std::string(id) + ext;
    if (!fs::exists(dir + "/" + name, ec)) continue;
    fs::rename(dir + "/" + name, to + "/" + name, ec);
    if (ec) return fail(Code::kKeyring, "cannot move " + name + " to " + to + ": " + ec.message());
    found = true;
  }
  if (!found) return fail(Code::kKeyring, "no key " + std::string(id) + " in " + dir);
  return {};
}

std::optional<core::WallTime> key_id_time(std::string_view id) {
  // "20261123T010203Z-3f9a" -> 2026-11-23T01:02:03Z
  if (id.size() < 16 || id[8] != 'T' || id[15] != 'Z') return std::nullopt;
  std::string t = std::string(id.substr(0, 4)) + "-" + std::string(id.substr(4, 2)) + "-" +
                  std::string(id.substr(6, 2)) + "T" + std::string(id.substr(9, 2)) + ":" +
                  std::string(id.substr(11, 2)) + ":" + std::string(id.substr(13, 2)) + "Z";
  auto parsed = core::parse_datetime(t);
  if (!parsed) return std::nullopt;
  return *parsed;
}

Keyring Keyring::generate(core::WallTime now, core::Random& random) {
  Keyring ring;
  std::string kid = new_key_id(now, random);
  SealingKey s{kid, {}};
  random.fill(s.key.data(), s.key.size());
  ring.sealing_.push_back(s);
  auto key = PrivateKey::generate_ec_p256();
  if (!key) std::abort();  // OpenSSL cannot make an EC key: nothing can be signed
  ring.signing_.push_back(SigningKey{kid, *key, key->public_key()});
  return ring;
}

const SealingKey* Keyring::find_sealing(std::string_view id) const {
  for (const auto& k : sealing_) {
    if (k.id == id) return &k;
  }
  return nullptr;
}

const SigningKey* Keyring::find_signing(std::string_view id) const {
  for (const auto& k : signing_) {
    if (k.id == id) return &k;
  }
  return nullptr;
}

std::string Keyring::seal(std::string_view plaintext, std::string_view purpose,
                          core::Random& random) const {
  const SealingKey& k = current_sealing();
  return k.id + "." +
         core::base64url_encode(aead_seal(k.key, plaintext, aad_of(purpose, k.id), random));
}

Result<std::string> Keyring::open(std::string_view sealed, std::string_view purpose) const {
  size_t dot = sealed.find('.');
  if (dot == std::string_view::npos) {
    return fail(Code::kOpenFailed, "sealed value has no key id");
  }
  std::string_view kid = sealed.substr(0, dot);
  const SealingKey* k = find_sealing(kid);
  if (!k) {
    return fail(Code::kUnknownKey, "sealed with key id '" + core::clip(kid, 40) +
                                       "', which this keyring does not hold (retired, or "
                                       "another deployment's)");
  }
  auto blob = core::base64url_decode(sealed.substr(dot + 1));
  if (!blob) return fail(Code::kOpenFailed, "sealed value is not base64url");
  return aead_open(k->key, *blob, aad_of(purpose, kid));
}

}  // namespace cg::crypto
