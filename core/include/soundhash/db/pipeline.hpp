#pragma once
// Pipeline: many statements of a Session answered in one round trip.
//
//   auto p = session.pipeline();
//   auto videos = p.add_read("SELECT count(*) FROM videos");
//   auto moved = p.add("UPDATE videos SET channel_id = $1 WHERE id = $2",
//                      7, 42);
//   p.sync();  // one round trip, one call
//   auto n = videos.result().as<std::int64_t>();
//
// Statements are sent when sync() is called, all of them with one Sync, so
// the whole batch costs one round trip. The batch is one call of its session
// (see session.hpp): it joins a running call, and otherwise it is a call of
// its own, retried whole when it is the first work of its transaction and
// put under a savepoint after earlier work. A failed statement fails the
// call: sync() throws its error, the statements after it never run, and
// the call's work is rolled back (statements before it ran, and were undone
// with the call).

#include <cstddef>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "soundhash/db/detail/params.hpp"
#include "soundhash/db/result.hpp"

namespace soundhash::db {

class Session;

namespace detail {
/// A statement waiting in a Pipeline: its SQL and parameters, owned.
struct QueuedStatement {
  std::string sql;
  std::vector<Param> params;
  bool reads_only = false;
};

/// What a Pipeline and its handles share: each statement's outcome, and the
/// statements not sent yet.
struct PipelineState {
  enum class Status : unsigned char { queued, ran, failed, not_run };
  struct Slot {
    Status status = Status::queued;
    Result result;
    std::exception_ptr error;  // failed: its own; not_run: why
  };
  std::vector<Slot> slots;
  std::vector<QueuedStatement> queued;  // the last queued.size() slots
  bool gone = false;                    // the Pipeline was destroyed
};
}  // namespace detail

/// Statements of one Session sent together and answered in one round trip
/// when sync() is called, as one call. Made by Session::pipeline(); must not
/// outlive its session. Movable, not copyable. It may be synced again: each
/// sync() sends what was added since the last one.
class Pipeline {
 public:
  /// The future result of one statement of a Pipeline. Cheap to copy.
  class Handle {
   public:
    /// A handle of no statement: result() throws std::logic_error.
    Handle() = default;

    /// The statement's result. Throws the statement's own error if it
    /// failed, StatementNotRun if it did not run (an earlier statement of
    /// its batch failed, or the batch could not be sent), and
    /// std::logic_error if its batch has not been synced yet or its
    /// Pipeline is gone (results live as long as their Pipeline).
    [[nodiscard]] Result result() const;
    /// True if result() returns a result (the statement ran).
    [[nodiscard]] bool ran() const noexcept;

   private:
    friend class Pipeline;
    Handle(std::shared_ptr<detail::PipelineState> state,
           std::size_t index) noexcept
        : state_(std::move(state)), index_(index) {}
    std::shared_ptr<detail::PipelineState> state_;
    std::size_t index_ = 0;
  };

  explicit Pipeline(Session& session);
  /// Forgets every result: handles read afterwards throw std::logic_error.
  /// Statements added and never synced are never sent.
  ~Pipeline();
  Pipeline(Pipeline&&) noexcept = default;
  Pipeline& operator=(Pipeline&&) = delete;
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  /// Adds a statement with `$1..$n` bound to `args` (copied: they need not
  /// outlive the call); it is sent by the next sync().
  template <Bindable... Args>
  Handle add(std::string_view sql, const Args&... args) {
    return queue(false, sql, args...);
  }
  /// Like add, for a statement that only reads. A batch of reads alone runs
  /// as Session::read runs one: when it leads a READ COMMITTED unit it gets
  /// a read-only transaction of its own, with nothing left to commit, and in
  /// an autocommit session a lost connection does not leave it in doubt
  /// (it is retried). So never send a write through it: in the read-only
  /// transaction the server refuses it (SQLSTATE 25006), elsewhere it could
  /// be applied twice. A batch that mixes in one add() is a batch of writes.
  template <Bindable... Args>
  Handle add_read(std::string_view sql, const Args&... args) {
    return queue(true, sql, args...);
  }

  /// Sends every statement added since the last sync() in one round trip,
  /// as one call of the session, and waits for their results. Throws the
  /// call's error (the first failed statement's, or a TransientError as
  /// any call would); the handles then say which statements ran. Sends
  /// nothing, and does not touch the session, when nothing was added.
  void sync();

  /// Statements added and not sent yet.
  [[nodiscard]] std::size_t pending() const noexcept {
    return state_ ? state_->queued.size() : 0;
  }

 private:
  template <class... Args>
  Handle queue(bool reads_only, std::string_view sql, const Args&... args) {
    detail::QueuedStatement st{std::string(sql), {}, reads_only};
    st.params.resize(sizeof...(Args));
    std::size_t i = 0;
    ((detail::encode(st.params[i], args), detail::own_value(st.params[i]), ++i),
     ...);
    return push(std::move(st));
  }
  Handle push(detail::QueuedStatement st);

  Session* session_;
  std::shared_ptr<detail::PipelineState> state_;
};

}  // namespace soundhash::db
