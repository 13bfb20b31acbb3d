// How OpenSSL starts and ends in this process (implemented in keys.cpp).
#pragma once

namespace cg::crypto {

// For a short-lived process (claimgate-exec): OpenSSL registers no clean-up at exit (freeing
// its tables, 5% of a job start; the kernel takes the memory back anyway). Call it before
// anything else uses OpenSSL: the first initialisation decides.
void skip_openssl_cleanup_at_exit();

}  // namespace cg::crypto
