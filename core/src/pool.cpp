#include "soundhash/db/detail/pool.hpp"

#include "deadline.hpp"
#include "soundhash/db/errors.hpp"
#include "soundhash/db/log.hpp"

namespace soundhash::db::detail {

Lease::Lease(Pool& pool, std::unique_ptr<Connection> conn) noexcept
    : pool_(&pool), conn_(std::move(conn)) {}

Lease::~Lease() { reset(); }

Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      conn_(std::move(other.conn_)) {}

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    reset();
    pool_ = std::exchange(other.pool_, nullptr);
    conn_ = std::move(other.conn_);
  }
  return *this;
}

void Lease::reset() noexcept {
  if (conn_) pool_->give_back(std::move(conn_));
  pool_ = nullptr;
}

Pool::Pool(PoolOptions options) : options_(std::move(options)) {}

Pool::~Pool() = default;

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

// elapsed > limit, where limit may be too long to convert to elapsed's unit.
bool longer_than(steady_clock::duration elapsed, milliseconds limit) {
  return limit < duration_cast<milliseconds>(steady_clock::duration::max()) &&
         elapsed > limit;
}

}  // namespace

bool Pool::needs_ping(const Connection& c) const noexcept {
  return c.epoch != failure_epoch_ ||
         longer_than(steady_clock::now() - c.last_used,
                     options_.ping_after_idle);
}

Lease Pool::acquire() {
  Observer* const observer = options_.observer;
  if (!observer) return take();
  const auto start = steady_clock::now();
  try {
    Lease lease = take();
    observer->on_acquire({.wait = steady_clock::now() - start});
    return lease;
  } catch (const PoolTimeout&) {
    observer->on_acquire(
        {.wait = steady_clock::now() - start, .timed_out = true});
    throw;
  }
}

Lease Pool::take() {
  const auto deadline = deadline_after(options_.acquire_timeout);
  std::unique_lock lock(mutex_);
  if (pid_ != current_pid()) forget_inherited_locked();
  for (;;) {
    while (!idle_.empty()) {
      std::unique_ptr<Connection> c = std::move(idle_.back());
      idle_.pop_back();
      const bool ping = needs_ping(*c);
      const std::uint64_t epoch = failure_epoch_;
      lock.unlock();
      // A connection the server closed while it sat idle (a restart, an
      // admin's terminate) has said so on its socket: looking costs no round
      // trip. Pinging is for the silent deaths, and is one; both outside the
      // lock.
      const bool hung_up = c->hung_up();
      const bool alive = !hung_up && (!ping || c->ping());
      if (!alive) report(ConnectionChange::broken);
      lock.lock();
      if (alive) {
        if (ping) c->epoch = epoch;
        return Lease(*this, std::move(c));
      }
      if (hung_up) ++failure_epoch_;  // its siblings may be gone too
      discard_locked();
      c.reset();
    }
    if (open_ < options_.max_size) {
      ++open_;
      lock.unlock();
      try {
        auto c = std::make_unique<Connection>(options_.conninfo,
                                              options_.prepared_statements);
        report(ConnectionChange::opened);
        lock.lock();
        ++created_;
        c->epoch = failure_epoch_;
        return Lease(*this, std::move(c));
      } catch (...) {
        lock.lock();
        --open_;
        freed_.notify_one();
        throw;
      }
    }
    if (freed_.wait_until(lock, deadline) == std::cv_status::timeout &&
        idle_.empty() && open_ >= options_.max_size) {
      ++timeouts_;
      throw PoolTimeout("no database connection became free within " +
                        std::to_string(options_.acquire_timeout.count()) +
                        " ms (pool size " + std::to_string(options_.max_size) +
                        ")");
    }
  }
}

void Pool::discard_locked() noexcept {
  --open_;
  ++discarded_;
  freed_.notify_one();
}

void Pool::forget_inherited_locked() noexcept {
  // Closing them sends nothing (Connection::detach_socket): no round trip
  // under the lock.
  idle_.clear();
  open_ = 0;
  pid_ = current_pid();
  freed_.notify_all();
}

void Pool::give_back(std::unique_ptr<Connection> conn) noexcept {
  if (!conn) return;
  if (conn->inherited()) {
    // On loan when the process forked; counted no more (see acquire).
    conn.reset();  // its destructor leaves the parent's socket alone
    std::lock_guard lock(mutex_);
    if (pid_ != current_pid()) forget_inherited_locked();
    return;
  }
  bool keep = !conn->broken();
  if (keep && conn->tx_status() != TxStatus::idle) {
    // A transaction left open (or failed) must not leak into the next user.
    try {
      conn->exec({"ROLLBACK"});
    } catch (...) {
    }
    keep = !conn->broken() && conn->tx_status() == TxStatus::idle;
  }
  // Session state the user changed must not reach the next user. Only SQL
  // that may have changed it (Connection::cleanup_needed) pays a round trip.
  const Cleanup cleanup = keep ? conn->cleanup_needed() : Cleanup::none;
  if (cleanup != Cleanup::none) keep = conn->clean_up();
  if (!keep) {
    // Closing on purpose (state SQL cannot undo) says nothing of the server.
    const bool failed = cleanup != Cleanup::close || conn->broken();
    conn.reset();  // closes the socket; not under the lock
    report(failed ? ConnectionChange::broken : ConnectionChange::discarded);
    std::lock_guard lock(mutex_);
    if (cleanup != Cleanup::none) ++resets_;
    if (failed) ++failure_epoch_;  // the server may have gone: check idle ones
    discard_locked();
    return;
  }
  std::lock_guard lock(mutex_);
  if (cleanup != Cleanup::none) ++resets_;
  conn->last_used = std::chrono::steady_clock::now();
  idle_.push_back(std::move(conn));
  freed_.notify_one();
}

void Pool::note_failure() noexcept {
  std::lock_guard lock(mutex_);
  ++failure_epoch_;
}

PoolStats Pool::stats() const {
  std::lock_guard lock(mutex_);
  PoolStats s;
  s.max_size = options_.max_size;
  s.open = open_;
  s.idle = idle_.size();
  s.in_use = open_ - idle_.size();
  s.created = created_;
  s.discarded = discarded_;
  s.timeouts = timeouts_;
  s.resets = resets_;
  return s;
}

}  // namespace soundhash::db::detail
