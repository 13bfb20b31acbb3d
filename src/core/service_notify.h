// The service manager's notification protocol (systemd's sd_notify(3)), without libsystemd:
// one datagram of "KEY=value" lines to the AF_UNIX socket that $NOTIFY_SOCKET names. `serve`
// sends READY=1 once every listener listens (Type=notify), RELOADING=1 / READY=1 around a
// SIGHUP reload, and STOPPING=1 when it begins to stop (docs/install.md).
#pragma once

#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/result.h"

namespace cg::core {

// Sends `state` to `socket`: a file system path, or "@name" for the abstract namespace (as
// systemd writes it). An empty socket is success with nothing sent (no service manager asked).
[[nodiscard]] Status notify_service_manager(std::string_view socket, std::string_view state);

// The same to the socket $NOTIFY_SOCKET names, read at each call.
[[nodiscard]] Status notify_service_manager(std::string_view state);

// "RELOADING=1\nMONOTONIC_USEC=<now>": a reload began at `now` (CLOCK_MONOTONIC, which
// steady_clock is on Linux), as systemd asks of reloading services.
std::string reloading_message(MonoTime now);

}  // namespace cg::core
