#include "core/service_notify.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

namespace cg::core {
namespace {

// A datagram socket standing in for systemd's notification socket, bound to `name` (a path,
// or "@name" in the abstract namespace, as $NOTIFY_SOCKET writes it).
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& name) : name_(name) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, name.data(), name.size());
    bool abstract = name[0] == '@';
    if (abstract) addr.sun_path[0] = '\0';
    auto len =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + (abstract ? 0 : 1));
    bound_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) ::close(fd_);
    if (name_[0] == '/') ::unlink(name_.c_str());
  }
  bool bound() const { return bound_; }
  // The next datagram; "" when none is waiting.
  std::string receive() {
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }

 private:
  std::string name_;
  int fd_ = -1;
  bool bound_ = false;
};

std::string temp_socket_path() {
  return (std::filesystem::temp_directory_path() /
          ("cg-notify-" + std::to_string(::getpid()) + ".sock"))
      .string();
}

// systemd's socket is a path: the datagram arrives whole, exactly as given.
TEST(ServiceNotifyTest, SendsTheStateToAPathSocket) {
  NotifySocket sock(temp_socket_path());
  ASSERT_TRUE(sock.bound());
  ASSERT_TRUE(notify_service_manager(temp_socket_path(), "READY=1").has_value());
  EXPECT_EQ(sock.receive(), "READY=1");
  EXPECT_EQ(sock.receive(), "");
}

// "@name" is the abstract namespace: the leading '@' becomes a NUL and no file is involved.
TEST(ServiceNotifyTest, SendsToAnAbstractSocket) {
  std::string name = "@cg-notify-test-" + std::to_string(::getpid());
  NotifySocket sock(name);
  ASSERT_TRUE(sock.bound());
  ASSERT_TRUE(notify_service_manager(name, "STOPPING=1").has_value());
  EXPECT_EQ(sock.receive(), "STOPPING=1");
}

// $NOTIFY_SOCKET is read at each call; unset means no service manager: nothing to do.
TEST(ServiceNotifyTest, UsesNotifySocketFromTheEnvironment) {
  NotifySocket sock(temp_socket_path());
  ASSERT_TRUE(sock.bound());
  ::setenv("NOTIFY_SOCKET", temp_socket_path().c_str(), 1);
  EXPECT_TRUE(notify_service_manager("READY=1").has_value());
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_TRUE(notify_service_manager("READY=1").has_value());
  EXPECT_EQ(sock.receive(), "READY=1");
  EXPECT_EQ(sock.receive(), "");
}

// A reload names when it began, on the monotonic clock, in microseconds.
TEST(ServiceNotifyTest, ReloadingMessageCarriesMonotonicMicroseconds) {
  MonoTime t{std::chrono::seconds(12) + std::chrono::microseconds(345)};
  EXPECT_EQ(reloading_message(t), "RELOADING=1\nMONOTONIC_USEC=12000345");
}

// A relative name, a name too long for sockaddr_un, or a socket nobody listens on is an error
// the caller can log, never a crash.
TEST(ServiceNotifyTest, RefusesBadSocketNames) {
  auto rel = notify_service_manager("run/notify", "READY=1");
  ASSERT_FALSE(rel.has_value());
  EXPECT_NE(rel.error().message.find("neither an absolute path"), std::string::npos);
  EXPECT_FALSE(notify_service_manager("/" + std::string(200, 'a'), "READY=1").has_value());
  auto gone = notify_service_manager(temp_socket_path() + ".absent", "READY=1");
  ASSERT_FALSE(gone.has_value());
  EXPECT_NE(gone.error().message.find("NOTIFY_SOCKET"), std::string::npos);
}

}  // namespace
}  // namespace cg::core
