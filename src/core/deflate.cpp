// Raw DEFLATE for the HTTP-Redirect binding (declared in core/encoding.h). In a file of its own
// so that a binary which never deflates (claimgate-exec) links no zlib.
#include <zlib.h>

#include "core/encoding.h"
#include "core/errors.h"

namespace cg::core {

std::string deflate_raw(std::string_view data) {
  z_stream zs{};
  deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, data.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

Result<std::string> inflate_raw(std::string_view data, size_t max_output) {
  z_stream zs{};
  if (inflateInit2(&zs, -15) != Z_OK) return fail(Code::kInflate, "zlib could not start");
  std::string out;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  char buf[16384];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      std::string msg = zs.msg ? zs.msg : "corrupt data";
      inflateEnd(&zs);
      return fail(Code::kInflate, "DEFLATE data is invalid: " + msg);
    }
    out.append(buf, sizeof buf - zs.avail_out);
    if (out.size() > max_output) {
      inflateEnd(&zs);
      return fail(Code::kTooLarge,
                  "inflated message exceeds " + std::to_string(max_output) + " bytes");
    }
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      return fail(Code::kInflate, "DEFLATE data is truncated");
    }
  }
  inflateEnd(&zs);
  return out;
}

}  // namespace cg::core
