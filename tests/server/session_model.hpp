#pragma once
// The randomized model test of Session semantics (issue 15): random programs
// of sessions and calls, a reference model of the documented semantics, and
// a readable text form. The executor that runs a program against a real
// server is in model_test.cpp; nothing here touches a database.
//
// A program is a few sessions run one after another. Each session has a kind
// and a list of top-level steps; a step is an outermost call (whose body may
// nest calls to depth 3), a pipeline of statements, a bare statement or
// repository call, commit(), rollback(), or a C++ throw. Faults are real and
// fire once per program: a fault point fires the first time its statement is
// actually sent, so a retried unit succeeds and the expected outcome is
// deterministic.
//
// The model predicts a trace: the events the executor logs (each outermost
// call's function running, what each try/catch caught, each top-level
// step's outcome, how each session ended, and the ids committed after each
// session). Where the documented semantics leave the outcome open, an event
// accepts several outcomes; a program whose flow would depend on an open
// point is rejected by the model and the generator draws another.

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace sh_model {

enum class Op {
  insert,        // INSERT of a unique id into model_items
  job,           // JobRepository::create_job with target "m<id>"
  dup,           // INSERT of the pre-seeded id 0: IntegrityError
  kill,          // the statement kills its own backend (first send only)
  kill_side,     // a Side connection kills the session's backend first
  lock_timeout,  // waits 50 ms for a row a Side connection holds: 55P03
  deadlock,      // two statements, deadlocked with a helper connection
  boom,          // throw Boom (a plain C++ exception)
  commit,        // Session::commit()
  rollback,      // Session::rollback()
  call,          // Session::call with a body
  // A Pipeline of the statements in its body (insert, dup, kill,
  // lock_timeout), synced once: one call, as a call of those statements
  // would be, but sent as one batch with no function to re-run.
  pipeline,
};

struct Action {
  Op op = Op::insert;
  int label = 0;        // unique in the program; names the action in traces
  int id = 0;           // insert/job: the row id; faults: the fault point
  bool caught = false;  // wrapped in try { ... } catch (...) {} by its caller
  std::vector<Action> body;  // call, pipeline
};

enum class Kind { autocommit, scoped, manual, transact };

struct SessionPlan {
  Kind kind = Kind::scoped;
  std::vector<Action> steps;
};

struct Program {
  std::uint32_t seed = 0;
  std::vector<SessionPlan> sessions;
  int fault_points = 0;
};

/// One event the executor logs: what happened and its outcome.
struct Event {
  std::string what;
  std::string outcome;
};

/// One event the model expects: `what` with any outcome in `ok`.
struct Expected {
  std::string what;
  std::set<std::string> ok;
};

struct Prediction {
  bool ambiguous = false;  // the program's flow depends on an open point
  std::string why;
  std::vector<Expected> events;
};

/// Exception categories, as events name them.
inline constexpr const char* kTransient = "transient";
inline constexpr const char* kIntegrity = "integrity";
inline constexpr const char* kBoom = "boom";
inline constexpr const char* kLogic = "logic";
inline constexpr const char* kOk = "ok";
inline constexpr const char* kRun = "run";

/// What the model predicts for `p` when calls and units have `max_retries`.
Prediction predict(const Program& p, int max_retries);

/// A random program the model can predict (ambiguous ones are redrawn).
Program generate(std::uint32_t seed, int max_retries);

/// The program as readable text (one action a line, indented by depth).
std::string to_text(const Program& p);
/// The program `text` (as to_text writes it) describes; throws
/// std::invalid_argument naming the line it cannot read. Lets a minimal
/// reproduction be written down as a regression program.
Program parse(const std::string& text);
std::string to_string(Kind k);
std::string to_string(Op op);

/// Compares an executor trace with the prediction. Returns "" on a match,
/// else a report: both traces side by side up to and around the first
/// difference.
std::string compare(const Prediction& expected,
                    const std::vector<Event>& observed);

/// Event names shared by the model and the executor.
std::string step_event(const Action& a);     // a top-level step's outcome
std::string try_event(const Action& a);      // what a try/catch caught
std::string attempt_event(const Action& a);  // an outermost call's fn ran
std::string unit_attempt_event(int session);
std::string end_event(int session);
std::string committed_event(int session);
/// Committed ids as the committed event's outcome ("1,4,7", "" if none).
std::string ids_text(const std::multiset<int>& ids);

}  // namespace sh_model
