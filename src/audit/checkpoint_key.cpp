#include "audit/checkpoint_key.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "audit/errors.h"
#include "core/encoding.h"

namespace cg::audit {
namespace {

namespace fs = std::filesystem;

// SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (0x04 || x || y) }: every
// P-256 SubjectPublicKeyInfo with an uncompressed point starts with these 26 bytes.
constexpr unsigned char kSpkiPrefix[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
                                         0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                         0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};
constexpr size_t kSpkiBytes = sizeof kSpkiPrefix + 65;

std::string prefix_bytes() {
  return std::string(reinterpret_cast<const char*>(kSpkiPrefix), sizeof kSpkiPrefix);
}

bool is_hex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

Result<CheckpointKey> CheckpointKey::from_public(crypto::PublicKey key) {
  if (!key || key.type() != crypto::KeyType::kEc || key.bits() != 256) {
    return fail(Code::kCheckpoint, "a checkpoint key must be an EC P-256 key (ES256)");
  }
  CG_TRY(auto xy, key.ec_p256_xy());
  CheckpointKey k;
  k.public_key = std::move(key);
  k.spki_der = prefix_bytes();
  k.spki_der += '\x04';
  k.spki_der.append(reinterpret_cast<const char*>(xy.first.data()), xy.first.size());
  k.spki_der.append(reinterpret_cast<const char*>(xy.second.data()), xy.second.size());
  auto h = crypto::sha256(k.spki_der);
  k.sha256 = core::hex_encode(h);
  k.id = "cp-" + k.sha256.substr(0, 16);
  return k;
}

Result<CheckpointKey> CheckpointKey::from_private(crypto::PrivateKey key) {
  if (!key || key.type() != crypto::KeyType::kEc) {
    return fail(Code::kCheckpoint, "a checkpoint key must be an EC P-256 key (ES256)");
  }
  CG_TRY(auto k, from_public(key.public_key()));
  k.key = std::move(key);
  return k;
}

Result<CheckpointKey> CheckpointKey::generate() {
  CG_TRY(auto key, crypto::PrivateKey::generate_ec_p256());
  return from_private(std::move(key));
}

Result<CheckpointKey> CheckpointKey::from_spki_der(std::string_view der) {
  if (der.size() != kSpkiBytes || !der.starts_with(prefix_bytes()) ||
      der[sizeof kSpkiPrefix] != '\x04') {
    return fail(Code::kCheckpoint,
                "not an EC P-256 public key (SubjectPublicKeyInfo with an uncompressed point)");
  }
  auto p = reinterpret_cast<const uint8_t*>(der.data()) + sizeof kSpkiPrefix + 1;
  CG_TRY(auto pub, crypto::PublicKey::from_ec_p256_xy(std::span(p, 32), std::span(p + 32, 32)));
  return from_public(std::move(pub));
}

Result<CheckpointKey> CheckpointKey::from_pem(std::string_view pem) {
  if (pem.find("PRIVATE KEY-----") != std::string_view::npos) {
    CG_TRY(auto key, crypto::PrivateKey::from_pem(pem));
    return from_private(std::move(key));
  }
  constexpr std::string_view kBegin = "-----BEGIN PUBLIC KEY-----";
  constexpr std::string_view kEnd = "-----END PUBLIC KEY-----";
  size_t b = pem.find(kBegin);
  size_t e = b == std::string_view::npos ? b : pem.find(kEnd, b);
  if (e == std::string_view::npos) {
    return fail(Code::kCheckpoint, "neither a PRIVATE KEY nor a PUBLIC KEY in PEM");
  }
  auto der = core::base64_decode(pem.substr(b + kBegin.size(), e - b - kBegin.size()));
  if (!der) return fail(Code::kCheckpoint, "the PUBLIC KEY block is not base64");
  return from_spki_der(*der);
}

Result<CheckpointKey> CheckpointKey::load_or_create(const std::string& path, bool* created) {
  if (created) *created = false;
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    fs::path dir = fs::path(path).parent_path();
    if (!dir.empty() && !fs::exists(dir, ec)) {
      fs::create_directories(dir, ec);
      if (ec) return fail(Code::kOpen, "cannot create " + dir.string() + ": " + ec.message());
      ::chmod(dir.c_str(), 0700);
    }
    CG_TRY(auto k, generate());
    // Written under another name and linked into place: two processes starting at once
    // (the gateway and `claimgate jobs ...`) end up with the same key, never half a file.
    std::string tmp = path + ".tmp." + std::to_string(::getpid());
    if (auto w = core::write_file(tmp, k.key.to_pem(), 0600); !w) {
      return fail(Code::kOpen, "cannot create the audit checkpoint key " + path + ": " +
                                   w.error().message);
    }
    int linked = ::link(tmp.c_str(), path.c_str());
    int err = errno;
    ::unlink(tmp.c_str());
    if (linked != 0 && err != EEXIST) {
      return fail(Code::kOpen, "cannot create " + path + ": " + std::strerror(err));
    }
    if (linked == 0) {
      if (created) *created = true;
      (void)core::write_file(path + ".pub", k.public_pem(), 0644);
      return k;
    }
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    return fail(Code::kOpen, "the audit checkpoint key " + path +
                                 " is readable by other users; chmod 600 it (whoever reads it "
                                 "can re-sign a rewritten audit log)");
  }
  auto text = core::read_file(path, 1 << 16);
  if (!text) return fail(Code::kOpen, "audit checkpoint key: " + text.error().message);
  auto k = from_pem(*text);
  if (!k || !k->key) {
    return fail(Code::kOpen, "audit checkpoint key " + path + ": " +
                                 (k ? std::string("holds no private key") : k.error().message));
  }
  if (!fs::exists(path + ".pub", ec)) (void)core::write_file(path + ".pub", k->public_pem(), 0644);
  return k;
}

std::string CheckpointKey::public_pem() const {
  std::string b64 = core::base64_encode(spki_der);
  std::string out = "-----BEGIN PUBLIC KEY-----\n";
  for (size_t i = 0; i < b64.size(); i += 64) out += b64.substr(i, 64) + "\n";
  out += "-----END PUBLIC KEY-----\n";
  return out;
}

std::string CheckpointKey::spki_base64url() const { return core::base64url_encode(spki_der); }

std::string default_checkpoint_key_path(const std::string& log_path) {
  fs::path dir = fs::path(log_path).parent_path();
  return (dir.empty() ? fs::path("audit-checkpoint.pem") : dir / "audit-checkpoint.pem").string();
}

Result<std::string> checkpoint_pin(const std::string& arg) {
  if (arg.starts_with("sha256:")) {
    std::string hex = arg.substr(7);
    for (auto& c : hex) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!is_hex64(hex)) {
      return fail(Code::kCheckpoint, "--checkpoint-key sha256: takes 64 hex digits");
    }
    return hex;
  }
  auto text = core::read_file(arg, 1 << 16);
  if (!text) return fail(Code::kOpen, "checkpoint key: " + text.error().message);
  auto k = CheckpointKey::from_pem(*text);
  if (!k) return fail(Code::kCheckpoint, "checkpoint key " + arg + ": " + k.error().message);
  return k->sha256;
}

}  // namespace cg::audit
