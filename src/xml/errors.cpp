#include "xml/errors.h"

namespace cg::xml {

const char* code_name(Code c) {
  switch (c) {
    case Code::kTooLarge:
      return "xml.too_large";
    case Code::kMalformed:
      return "xml.malformed";
    case Code::kDtdForbidden:
      return "xml.dtd_forbidden";
    case Code::kTooDeep:
      return "xml.too_deep";
    case Code::kTooManyNodes:
      return "xml.too_many_nodes";
    case Code::kDuplicateId:
      return "xml.duplicate_id";
    case Code::kSignatureStructure:
      return "signature.structure";
    case Code::kSignatureObject:
      return "signature.object";
    case Code::kSignatureReference:
      return "signature.reference";
    case Code::kSignatureTransform:
      return "signature.transform";
    case Code::kSignatureAlgorithm:
      return "signature.algorithm";
    case Code::kSignatureWeak:
      return "signature.weak_algorithm";
    case Code::kDigestMismatch:
      return "signature.digest_mismatch";
    case Code::kSignatureInvalid:
      return "signature.invalid";
    case Code::kUntrustedKey:
      return "signature.untrusted_key";
    case Code::kSignatureMultiple:
      return "signature.multiple";
    case Code::kNoTrustedKeys:
      return "signature.no_trusted_keys";
    case Code::kCanonicalization:
      return "signature.canonicalization";
    case Code::kKeyValue:
      return "signature.key_value";
    case Code::kEncryptionAlgorithm:
      return "encryption.algorithm";
    case Code::kEncryptionWeak:
      return "encryption.weak_key_transport";
    case Code::kNoDecryptionKey:
      return "encryption.no_key";
    case Code::kDecryptFailed:
      return "encryption.decrypt_failed";
    case Code::kEncryptionStructure:
      return "encryption.structure";
    case Code::kSignFailed:
      return "xml.sign_failed";
    case Code::kEncryptFailed:
      return "xml.encrypt_failed";
  }
  return "xml.unknown";
}

}  // namespace cg::xml
