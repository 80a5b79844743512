// Pipeline: queues statements with their parameters, and sends them as one
// call of the session (Session::run_batch does the round trip); records each
// statement's outcome for its handle.
#include "soundhash/db/pipeline.hpp"

#include <algorithm>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>

#include "soundhash/db/detail/connection.hpp"
#include "soundhash/db/errors.hpp"
#include "soundhash/db/session.hpp"

namespace soundhash::db {
namespace {

using Status = detail::PipelineState::Status;
using Slot = detail::PipelineState::Slot;

std::string what_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown error";
  }
}

// Statements [0, ran) ran; `failed` (if >= 0) failed with `error`; the rest
// did not run because of `error`.
void record(std::span<Slot> slots, std::span<Result> results, std::size_t ran,
            int failed, const std::exception_ptr& error) {
  std::exception_ptr not_run;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    Slot& slot = slots[i];
    if (i < ran) {
      slot = {Status::ran, std::move(results[i]), nullptr};
    } else if (failed >= 0 && i == static_cast<std::size_t>(failed)) {
      slot = {Status::failed, Result(), error};
    } else {
      if (!not_run) {
        not_run = std::make_exception_ptr(StatementNotRun(
            "this statement of the pipeline did not run: its batch failed "
            "before reaching it (" +
            what_of(error) + ")"));
      }
      slot = {Status::not_run, Result(), not_run};
    }
  }
}

}  // namespace

Pipeline Session::pipeline() { return Pipeline(*this); }

Pipeline::Pipeline(Session& session)
    : session_(&session), state_(std::make_shared<detail::PipelineState>()) {}

Pipeline::~Pipeline() {
  if (!state_) return;
  state_->gone = true;
  state_->slots.clear();
  state_->queued.clear();
}

Pipeline::Handle Pipeline::push(detail::QueuedStatement st) {
  if (!state_) {
    throw std::logic_error("Pipeline::add on a moved-from pipeline");
  }
  state_->queued.push_back(std::move(st));
  state_->slots.emplace_back();
  return Handle(state_, state_->slots.size() - 1);
}

void Pipeline::sync() {
  if (!state_) {
    throw std::logic_error("Pipeline::sync on a moved-from pipeline");
  }
  detail::PipelineState& state = *state_;
  if (state.queued.empty()) return;
  // Whatever happens from here, these statements are never sent again.
  const std::vector<detail::QueuedStatement> batch = std::move(state.queued);
  state.queued.clear();
  const std::size_t first = state.slots.size() - batch.size();

  std::vector<detail::Statement> sts;
  sts.reserve(batch.size());
  for (const auto& q : batch) sts.push_back({q.sql, q.params});
  const bool reads_only = std::all_of(
      batch.begin(), batch.end(), [](const auto& q) { return q.reads_only; });
  std::vector<Result> results(batch.size());
  const auto slots = std::span(state.slots).subspan(first, batch.size());

  try {
    session_->call("pipeline", [&] {
      std::size_t ran = 0;
      int failed = -1;
      try {
        session_->run_batch(
            reads_only ? Session::Purpose::read : Session::Purpose::statement,
            sts, results, ran, failed);
      } catch (...) {
        record(slots, results, ran, failed, std::current_exception());
        throw;
      }
      record(slots, results, results.size(), -1, nullptr);
    });
  } catch (...) {
    // Refused before its batch went out (a lost unit, another thread...):
    // none of it ran.
    if (!state.gone && slots.front().status == Status::queued) {
      record(slots, results, 0, -1, std::current_exception());
    }
    throw;
  }
}

Result Pipeline::Handle::result() const {
  if (!state_) {
    throw std::logic_error(
        "Pipeline::Handle::result() on a handle of no statement");
  }
  if (state_->gone) {
    throw std::logic_error(
        "Pipeline::Handle::result() after its Pipeline was destroyed: results "
        "live as long as their Pipeline");
  }
  const Slot& slot = state_->slots[index_];
  switch (slot.status) {
    case Status::queued:
      throw std::logic_error(
          "Pipeline::Handle::result() before its statement was sent: call "
          "the Pipeline's sync() first");
    case Status::ran:
      return slot.result;
    case Status::failed:
    case Status::not_run:
      break;
  }
  std::rethrow_exception(slot.error);
}

bool Pipeline::Handle::ran() const noexcept {
  return state_ && !state_->gone && state_->slots[index_].status == Status::ran;
}

}  // namespace soundhash::db
