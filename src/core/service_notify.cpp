#include "core/service_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/errors.h"

namespace cg::core {

Status notify_service_manager(std::string_view socket, std::string_view state) {
  if (socket.empty()) return {};
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // A path, or '@' for the abstract namespace: there the name starts with a NUL byte and is
  // exactly as long as given (the address length says where it ends).
  if ((socket[0] != '/' && socket[0] != '@') || socket.size() >= sizeof addr.sun_path) {
    return fail(Code::kIo, "NOTIFY_SOCKET '" + std::string(socket) +
                               "' is neither an absolute path nor an abstract '@name' of at most " +
                               std::to_string(sizeof addr.sun_path - 1) + " bytes");
  }
  std::memcpy(addr.sun_path, socket.data(), socket.size());
  if (socket[0] == '@') addr.sun_path[0] = '\0';
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket.size() +
                                    (socket[0] == '@' ? 0 : 1));
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return fail(Code::kIo, std::string("NOTIFY_SOCKET: socket: ") + std::strerror(errno));
  }
  ssize_t n;
  do {
    n = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
                 len);
  } while (n < 0 && errno == EINTR);
  int err = errno;
  ::close(fd);
  if (n < 0) {
    return fail(Code::kIo, "NOTIFY_SOCKET " + std::string(socket) + ": " + std::strerror(err));
  }
  if (static_cast<size_t>(n) != state.size()) {
    return fail(Code::kIo, "NOTIFY_SOCKET " + std::string(socket) + ": short datagram");
  }
  return {};
}

Status notify_service_manager(std::string_view state) {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  return notify_service_manager(socket ? std::string_view(socket) : std::string_view(), state);
}

std::string reloading_message(MonoTime now) {
  auto usec = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec);
}

}  // namespace cg::core
