#pragma once
// A pooled connection on loan that goes back by itself: whichever way its
// owner's scope ends (return, exception, move, reset), the lease's
// destructor hands the connection to its pool, which keeps or discards it.
// Forward declarations only, so that a header holding a lease stays light.

#include <memory>
#include <utility>

namespace soundhash::db::detail {

class Connection;
class Pool;

class Lease {
 public:
  Lease() noexcept = default;
  /// Gives the connection back (Pool::give_back); never throws.
  ~Lease();
  // Out of line, as are all members that touch conn_: Connection is
  // incomplete here.
  Lease(Lease&& other) noexcept;
  /// Gives back the connection held so far, then takes `other`'s.
  Lease& operator=(Lease&& other) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  /// Gives the connection back now; the lease is empty afterwards.
  void reset() noexcept;

  [[nodiscard]] explicit operator bool() const noexcept {
    return conn_ != nullptr;
  }
  [[nodiscard]] Connection* get() const noexcept { return conn_.get(); }
  Connection* operator->() const noexcept { return conn_.get(); }
  Connection& operator*() const noexcept { return *conn_; }

 private:
  friend class Pool;
  Lease(Pool& pool, std::unique_ptr<Connection> conn) noexcept;

  Pool* pool_ = nullptr;
  std::unique_ptr<Connection> conn_;
};

}  // namespace soundhash::db::detail
