#include "crypto/aead.h"

#include <openssl/evp.h>

#include <memory>

#include "crypto/errors.h"

namespace cg::crypto {
namespace {

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

const EVP_CIPHER* aes_256_gcm() {
  static EVP_CIPHER* const kCipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return kCipher;
}

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

std::string aead_seal(const AeadKey& key, std::string_view plaintext, std::string_view aad,
                      core::Random& random) {
  std::string out(kAeadNonceBytes + plaintext.size() + kAeadTagBytes, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  random.fill(o, kAeadNonceBytes);
  CtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  // Every call below only fails on allocation failure or a programming error (fixed sizes).
  bool ok = ctx && EVP_EncryptInit_ex2(ctx.get(), aes_256_gcm(), key.data(), o, nullptr) == 1 &&
            (aad.empty() || EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes(aad),
                                              static_cast<int>(aad.size())) == 1) &&
            EVP_EncryptUpdate(ctx.get(), o + kAeadNonceBytes, &len, bytes(plaintext),
                              static_cast<int>(plaintext.size())) == 1 &&
            EVP_EncryptFinal_ex(ctx.get(), o + kAeadNonceBytes + len, &len) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kAeadTagBytes,
                                o + kAeadNonceBytes + plaintext.size()) == 1;
  if (!ok) std::abort();  // OpenSSL cannot run AES-GCM: nothing sealed can be trusted
  return out;
}

Result<std::string> aead_open(const AeadKey& key, std::string_view sealed, std::string_view aad) {
  if (sealed.size() < kAeadNonceBytes + kAeadTagBytes) {
    return fail(Code::kOpenFailed, "sealed data is " + std::to_string(sealed.size()) +
                                       " bytes, shorter than a nonce and a tag");
  }
  size_t n = sealed.size() - kAeadNonceBytes - kAeadTagBytes;
  std::string out(n, '\0');
  auto* in = bytes(sealed);
  CtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  std::array<unsigned char, kAeadTagBytes> tag;
  std::copy(in + kAeadNonceBytes + n, in + sealed.size(), tag.begin());
  bool ok =
      ctx && EVP_DecryptInit_ex2(ctx.get(), aes_256_gcm(), key.data(), in, nullptr) == 1 &&
      (aad.empty() || EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes(aad),
                                        static_cast<int>(aad.size())) == 1) &&
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len,
                        in + kAeadNonceBytes, static_cast<int>(n)) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kAeadTagBytes, tag.data()) == 1 &&
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + len, &len) == 1;
  if (!ok) {
    openssl_error();  // clear the queue
    return fail(Code::kOpenFailed,
                "sealed data does not open: altered, or sealed under another key or purpose");
  }
  return out;
}

}  // namespace cg::crypto
