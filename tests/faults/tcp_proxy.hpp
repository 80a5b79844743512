#pragma once
// A loopback TCP proxy in front of the test server that can drop the
// connection right after forwarding a COMMIT, before the server's answer
// reaches the client: a lost acknowledgement, the fault behind CommitInDoubt.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <thread>

namespace sh_test {

class CommitCutter {
 public:
  explicit CommitCutter(int server_port) : server_port_(server_port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listen_fd_, 16) != 0) {
      throw std::runtime_error("proxy: bind/listen failed");
    }
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~CommitCutter() {
    stop_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    thread_.join();
  }
  int port() const { return port_; }
  /// The next COMMIT forwarded is followed by cutting the connection.
  void arm() { armed_ = true; }
  bool fired() const { return fired_; }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const int client = ::accept(listen_fd_, nullptr, nullptr);
      if (client < 0) continue;
      pump(client);  // one connection at a time: the test's pool has one
      ::close(client);
    }
  }

  void pump(int client) {
    const int server = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(server_port_));
    if (::connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(server);
      return;
    }
    char buf[65536];
    bool cut = false;
    while (!stop_ && !cut) {
      pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      if (::poll(fds, 2, 100) <= 0) continue;
      if (fds[0].revents) {
        const auto n = ::read(client, buf, sizeof buf);
        if (n <= 0) break;
        const bool commit =
            std::string_view(buf, static_cast<std::size_t>(n)).find("COMMIT") !=
            std::string_view::npos;
        if (::write(server, buf, static_cast<std::size_t>(n)) != n) break;
        if (commit && armed_.exchange(false)) {
          // Let the server commit, then lose its answer.
          std::this_thread::sleep_for(std::chrono::milliseconds(300));
          fired_ = true;
          cut = true;
        }
      }
      if (!cut && fds[1].revents) {
        const auto n = ::read(server, buf, sizeof buf);
        if (n <= 0) break;
        if (::write(client, buf, static_cast<std::size_t>(n)) != n) break;
      }
    }
    ::close(server);
  }

  int server_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false}, armed_{false}, fired_{false};
  std::thread thread_;
};

}  // namespace sh_test
