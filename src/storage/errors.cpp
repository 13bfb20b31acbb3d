#include "storage/errors.h"

namespace cg::storage {

const char* code_name(Code c) {
  switch (c) {
    case Code::kRedis:
      return "session.redis";
  }
  return "storage.unknown";
}

}  // namespace cg::storage
