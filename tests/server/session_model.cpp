#include "session_model.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace sh_model {

std::string to_string(Kind k) {
  switch (k) {
    case Kind::autocommit:
      return "autocommit";
    case Kind::scoped:
      return "scoped";
    case Kind::manual:
      return "manual";
    case Kind::transact:
      return "transact";
  }
  return "?";
}

std::string to_string(Op op) {
  switch (op) {
    case Op::insert:
      return "insert";
    case Op::job:
      return "create_job";
    case Op::dup:
      return "insert-duplicate";
    case Op::kill:
      return "kill-own-backend";
    case Op::kill_side:
      return "side-kills-backend";
    case Op::lock_timeout:
      return "lock-timeout";
    case Op::deadlock:
      return "deadlock";
    case Op::boom:
      return "throw-boom";
    case Op::commit:
      return "commit()";
    case Op::rollback:
      return "rollback()";
    case Op::call:
      return "call";
    case Op::pipeline:
      return "pipeline";
  }
  return "?";
}

std::string step_event(const Action& a) {
  return "a" + std::to_string(a.label);
}
std::string try_event(const Action& a) {
  return "a" + std::to_string(a.label) + " caught";
}
std::string attempt_event(const Action& a) {
  return "a" + std::to_string(a.label) + " fn runs";
}
std::string unit_attempt_event(int session) {
  return "s" + std::to_string(session) + " transact fn runs";
}
std::string end_event(int session) {
  return "s" + std::to_string(session) + " ends";
}
std::string committed_event(int session) {
  return "s" + std::to_string(session) + " committed ids";
}

std::string ids_text(const std::multiset<int>& ids) {
  std::string out;
  for (int id : ids) {
    if (!out.empty()) out += ',';
    out += std::to_string(id);
  }
  return out;
}

namespace {

bool is_fault(Op op) {
  return op == Op::kill || op == Op::kill_side || op == Op::lock_timeout ||
         op == Op::deadlock;
}

// ---- the reference model ----------------------------------------------------

// How control leaves an action: normally (cat empty) or by an exception of
// category `cat`; `also` lists categories the documented semantics allow in
// its place, `maybe_normal` that it may instead return normally.
struct Esc {
  std::string cat;
  std::set<std::string> also;
  bool maybe_normal = false;
  [[nodiscard]] bool thrown() const { return !cat.empty(); }
  [[nodiscard]] std::set<std::string> outcomes() const {
    if (!thrown()) return {kOk};
    std::set<std::string> out = also;
    out.insert(cat);
    if (maybe_normal) out.insert(kOk);
    return out;
  }
};

// Thrown inside the model when the program's flow would depend on a point
// the documented semantics leave open; the generator then draws another.
struct Ambiguous {
  std::string why;
};

// One outermost call's attempt: its first error (S4), its rows, and whether
// it sent any statement (a call that sent none leaves no transaction open,
// so the next call is still the first work of one).
struct CallState {
  std::string failed;
  std::vector<int> ids;
  bool sent = false;
};

class Model {
 public:
  Model(const Program& p, int max_retries) : p_(p), max_retries_(max_retries) {}

  Prediction run() {
    Prediction out;
    try {
      for (std::size_t i = 0; i < p_.sessions.size(); ++i) {
        session(static_cast<int>(i + 1), p_.sessions[i]);
      }
    } catch (const Ambiguous& a) {
      out.ambiguous = true;
      out.why = a.why;
    }
    out.events = std::move(events_);
    return out;
  }

 private:
  void expect(std::string what, std::set<std::string> ok) {
    if (!quiet_) events_.push_back({std::move(what), std::move(ok)});
  }

  void reset_unit() {
    pending_.clear();
    work_ = false;
    poisoned_ = false;
  }

  void session(int si, const SessionPlan& sp) {
    kind_ = sp.kind;
    std::set<std::string> end;
    if (kind_ == Kind::transact) {
      end = transact(si, sp);
    } else {
      reset_unit();
      const Esc e = steps(sp.steps);
      if (e.thrown()) {
        end = e.outcomes();  // S1: the scope rolls back
      } else if (kind_ == Kind::scoped && poisoned_) {
        end = {kTransient};  // S5: a scoped exit refuses a lost unit
      } else if (kind_ == Kind::manual && poisoned_) {
        // S1 says a manual exit rolls back; S5 names only the scoped exit
        // among those that throw for a lost unit: either is fine.
        end = {kOk, kTransient};
      } else {
        if (kind_ == Kind::scoped)
          committed_.insert(pending_.begin(), pending_.end());
        end = {kOk};  // manual rolls back; autocommit has nothing open
      }
      pending_.clear();
    }
    expect(end_event(si), end);
    expect(committed_event(si), {ids_text(committed_)});
  }

  // S1: transact re-runs fn from scratch on a transient error anywhere.
  std::set<std::string> transact(int si, const SessionPlan& sp) {
    for (int attempt = 1;; ++attempt) {
      expect(unit_attempt_event(si), {kRun});
      reset_unit();
      const Esc e = steps(sp.steps);
      std::set<std::string> result;
      bool transient = false;
      if (e.thrown()) {
        result = e.outcomes();
        transient = e.cat == kTransient;
      } else if (poisoned_) {
        result = {kTransient};
        transient = true;
      } else {
        committed_.insert(pending_.begin(), pending_.end());
        return {kOk};
      }
      pending_.clear();
      if (transient && attempt <= max_retries_) continue;
      return result;
    }
  }

  // Top-level steps; returns how an uncaught exception left them.
  Esc steps(const std::vector<Action>& list) {
    for (const Action& step : list) {
      const Esc e = top(step);
      expect(step_event(step), e.outcomes());
      if (e.thrown() && !step.caught) return e;
    }
    return {};
  }

  Esc top(const Action& step) {
    switch (step.op) {
      case Op::commit:
        if (kind_ == Kind::transact) return {kLogic};  // S6
        if (poisoned_) return {kTransient};            // S5
        committed_.insert(pending_.begin(), pending_.end());
        pending_.clear();
        work_ = false;
        return {};
      case Op::rollback:
        if (kind_ == Kind::transact) return {kLogic};  // S6
        reset_unit();
        return {};
      case Op::boom:
        return {kBoom};
      case Op::call:
        return outermost(step, true);
      default:
        return outermost(step, false);  // S2: a bare statement is a call
    }
  }

  // S2-S5: one outermost call (or bare statement) and its retries.
  Esc outermost(const Action& step, bool is_call) {
    if (poisoned_) return {kTransient};  // refused; fn does not run
    const bool first = !work_;
    const int attempts =
        (kind_ != Kind::transact && first) ? 1 + max_retries_ : 1;
    for (int attempt = 1;; ++attempt) {
      if (is_call) expect(attempt_event(step), {kRun});
      CallState cs;
      quiet_ = false;
      const Esc e = is_call ? body(step.body, cs) : action(step, cs);
      Esc r;
      if (e.thrown()) {
        r = e;  // S3: the exception leaving the call
        if (!cs.failed.empty() && cs.failed != e.cat) r.also.insert(cs.failed);
        r.maybe_normal = false;
      } else if (!cs.failed.empty()) {
        r.cat = cs.failed;  // S4: fn caught its failure; the call throws it
      } else {
        if (kind_ == Kind::autocommit) {
          committed_.insert(cs.ids.begin(), cs.ids.end());
        } else {
          pending_.insert(pending_.end(), cs.ids.begin(), cs.ids.end());
          work_ = work_ || cs.sent;
        }
        return {};
      }
      const bool transient = r.cat == kTransient;
      for (const auto& c : r.also) {
        if ((c == kTransient) != transient) {
          throw Ambiguous{"a" + std::to_string(step.label) + " may throw " +
                          r.cat + " or " + c +
                          ", and only one of them is retried"};
        }
      }
      if (!transient) {
        if (first) work_ = false;  // S3: the whole (empty) transaction
        return r;                  // else back to its savepoint
      }
      if (kind_ == Kind::transact) {
        // Inside transact a transient error ends the attempt: S1, S5.
        pending_.clear();
        work_ = false;
        poisoned_ = true;
        return {kTransient};
      }
      if (first) {
        if (attempt < attempts) continue;  // S5: retries itself
        return {kTransient};
      }
      pending_.clear();  // S5: the whole transaction is lost
      work_ = false;
      poisoned_ = true;
      return {kTransient};
    }
  }

  // A call's function body.
  Esc body(const std::vector<Action>& list, CallState& cs) {
    for (const Action& a : list) {
      const Esc e = action(a, cs);
      if (a.caught) {
        expect(try_event(a), e.outcomes());
        continue;
      }
      if (e.thrown() && e.maybe_normal) {
        throw Ambiguous{"a" + std::to_string(a.label) +
                        " (a nested call that caught a failure) may return "
                        "or throw, and it is not caught"};
      }
      if (e.thrown()) return e;
    }
    return {};
  }

  Esc action(const Action& a, CallState& cs) {
    switch (a.op) {
      case Op::insert:
      case Op::job:
        if (!cs.failed.empty()) return {cs.failed};  // S4: not sent
        cs.ids.push_back(a.id);
        cs.sent = true;
        return {};
      case Op::dup:
        if (!cs.failed.empty()) return {cs.failed};
        cs.failed = kIntegrity;
        return {kIntegrity};
      case Op::kill:
      case Op::kill_side:
      case Op::lock_timeout:
      case Op::deadlock:
        if (!cs.failed.empty()) return {cs.failed};
        if (fired_.count(a.id)) {  // fires once per program
          cs.sent = true;
          return {};
        }
        fired_.insert(a.id);
        cs.failed = kTransient;
        return {kTransient};
      case Op::boom:
        return {kBoom};
      case Op::commit:
      case Op::rollback:
        return {kLogic};  // S6: inside a call; changes nothing
      case Op::call:
        return nested(a, cs);
      case Op::pipeline:
        // Its statements as a call's would run: a failed one fails the
        // call and the server skips the rest (which fire no fault).
        return body(a.body, cs);
    }
    return {};
  }

  // S2: a nested call joins the outermost one.
  Esc nested(const Action& a, CallState& cs) {
    const std::string entered = cs.failed;
    // Whether a call entered after its outer call failed runs its function
    // at all is open: what happens inside is not compared.
    const bool q = quiet_;
    if (!entered.empty()) quiet_ = true;
    const Esc e = body(a.body, cs);
    quiet_ = q;
    if (e.thrown()) {
      if (!entered.empty() && e.cat != entered) {
        throw Ambiguous{"a" + std::to_string(a.label) +
                        " is entered after its call failed and may not run "
                        "its function, which would throw " +
                        e.cat};
      }
      Esc r = e;
      if (cs.failed.empty()) {
        cs.failed = e.cat;  // S4: an exception escaped a nested call
      } else if (cs.failed != e.cat) {
        r.also.insert(cs.failed);
      }
      return r;
    }
    // Its function returned normally; if the call has failed, whether the
    // nested call throws the first error now or only the outermost call
    // does is open.
    if (!cs.failed.empty()) return {cs.failed, {}, true};
    return {};
  }

  const Program& p_;
  int max_retries_;
  std::set<int> fired_;
  std::multiset<int> committed_;
  std::vector<Expected> events_;
  bool quiet_ = false;
  Kind kind_ = Kind::scoped;
  std::vector<int> pending_;
  bool work_ = false;
  bool poisoned_ = false;
};

// ---- the generator ----------------------------------------------------------

class Generator {
 public:
  explicit Generator(std::uint32_t seed) : rng_(seed) {}

  Program program(std::uint32_t seed) {
    Program p;
    p.seed = seed;
    labels_ = ids_ = faults_ = 0;
    const int sessions = between(1, 3);
    for (int i = 0; i < sessions; ++i) p.sessions.push_back(session());
    p.fault_points = faults_;
    return p;
  }

 private:
  int between(int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng_);
  }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }

  Action make(Op op) {
    Action a;
    a.op = op;
    a.label = ++labels_;
    if (op == Op::insert || op == Op::job) a.id = ++ids_;
    if (is_fault(op)) a.id = faults_++;
    return a;
  }

  SessionPlan session() {
    SessionPlan s;
    s.kind = static_cast<Kind>(between(0, 3));
    const int n = between(1, 4);
    for (int i = 0; i < n; ++i) s.steps.push_back(top(s.kind));
    if (chance(0.08)) s.steps.push_back(make(Op::boom));  // leaves the scope
    return s;
  }

  Op fault(bool bare, Kind kind) {
    if (faults_ >= kMaxFaults) return Op::insert;
    if (bare) {
      // Deadlocks take two statements and a side kill needs a call to aim
      // at; an autocommit statement whose connection is lost is in doubt.
      if (kind == Kind::autocommit) return Op::lock_timeout;
      return chance(0.5) ? Op::kill : Op::lock_timeout;
    }
    static constexpr Op kFaults[] = {Op::kill, Op::kill_side, Op::lock_timeout,
                                     Op::deadlock};
    return kFaults[between(0, 3)];
  }

  Action top(Kind kind) {
    const int r = between(0, 99);
    Action a;
    if (r < 44) {
      a = make(Op::call);
      a.body = body(2, kind);
      a.caught = chance(0.7);
      return a;
    }
    if (r < 52) {
      a = pipeline(true, kind);
      a.caught = chance(0.7);
      return a;
    }
    if (r < 62) {
      a = make(Op::insert);
    } else if (r < 67) {
      a = make(Op::job);
    } else if (r < 74) {
      a = make(Op::dup);
    } else if (r < 84) {
      a = make(fault(true, kind));
    } else if (r < 94) {
      a = make(Op::commit);
    } else {
      a = make(Op::rollback);
    }
    a.caught = chance(0.7);
    return a;
  }

  // Statements the executor can put in a Pipeline: faults that fire on the
  // server when their statement runs, not ones it fires itself.
  Action pipeline(bool bare, Kind kind) {
    Action a = make(Op::pipeline);
    const int n = between(1, 4);
    for (int i = 0; i < n; ++i) {
      const int r = between(0, 99);
      Op op = Op::insert;
      if (r >= 80 && faults_ < kMaxFaults) {
        // As for a bare statement: a lost autocommit batch may be in doubt.
        op = (bare && kind == Kind::autocommit) || chance(0.5)
                 ? Op::lock_timeout
                 : Op::kill;
      } else if (r >= 60) {
        op = Op::dup;
      }
      a.body.push_back(make(op));
    }
    return a;
  }

  std::vector<Action> body(int depth, Kind kind) {
    std::vector<Action> out;
    const int n = between(1, 4);
    for (int i = 0; i < n; ++i) {
      const int r = between(0, 99);
      Action a;
      if (r < 28) {
        a = make(Op::insert);
      } else if (r < 40) {
        a = make(Op::job);
      } else if (r < 50) {
        a = make(Op::dup);
      } else if (r < 64) {
        a = make(fault(false, kind));
      } else if (r < 82 && depth <= 3) {
        a = make(Op::call);
        a.body = body(depth + 1, kind);
        a.caught = chance(0.6);
        out.push_back(std::move(a));
        continue;
      } else if (r < 86) {
        a = pipeline(false, kind);
      } else if (r < 90) {
        a = make(Op::boom);
      } else if (r < 95) {
        a = make(Op::commit);
      } else {
        a = make(Op::rollback);
      }
      a.caught = a.op != Op::boom && chance(0.35);
      out.push_back(std::move(a));
    }
    return out;
  }

  static constexpr int kMaxFaults = 4;
  std::mt19937 rng_;
  int labels_ = 0;
  int ids_ = 0;
  int faults_ = 0;
};

void print(std::ostringstream& out, const Action& a, int indent) {
  out << std::string(static_cast<std::size_t>(indent) * 2, ' ') << 'a'
      << a.label << ' ' << (a.caught ? "try " : "") << to_string(a.op);
  if (a.op == Op::insert || a.op == Op::job) out << " id=" << a.id;
  if (is_fault(a.op)) out << " #" << a.id;
  out << '\n';
  for (const Action& b : a.body) print(out, b, indent + 1);
}

}  // namespace

Prediction predict(const Program& p, int max_retries) {
  return Model(p, max_retries).run();
}

Program generate(std::uint32_t seed, int max_retries) {
  // One stream per seed: a rejected draw is followed by the next one from
  // the same stream, so the seed alone reproduces the program.
  Generator g(seed);
  for (;;) {
    Program p = g.program(seed);
    if (!predict(p, max_retries).ambiguous) return p;
  }
}

std::string to_text(const Program& p) {
  std::ostringstream out;
  out << "program seed=" << p.seed << '\n';
  for (std::size_t i = 0; i < p.sessions.size(); ++i) {
    out << "session s" << i + 1 << ' ' << to_string(p.sessions[i].kind) << '\n';
    for (const Action& a : p.sessions[i].steps) print(out, a, 1);
  }
  return out.str();
}

Program parse(const std::string& text) {
  Program p;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  // The action list each depth appends to (depth 1: the session's steps).
  std::vector<std::vector<Action>*> open;
  auto bad = [&](const std::string& why) {
    return std::invalid_argument("line " + std::to_string(n) + " (" + line +
                                 "): " + why);
  };
  while (std::getline(in, line)) {
    ++n;
    const auto first = line.find_first_not_of(' ');
    if (first == std::string::npos) continue;
    std::istringstream words(line.substr(first));
    std::string word;
    words >> word;
    if (word == "program") {
      if (words >> word && word.starts_with("seed=")) {
        p.seed = static_cast<std::uint32_t>(std::stoul(word.substr(5)));
      }
      continue;
    }
    if (word == "session") {
      SessionPlan s;
      std::string name, kind;
      words >> name >> kind;
      bool known = false;
      for (Kind k :
           {Kind::autocommit, Kind::scoped, Kind::manual, Kind::transact}) {
        if (to_string(k) == kind) {
          s.kind = k;
          known = true;
        }
      }
      if (!known) throw bad("unknown session kind");
      p.sessions.push_back(std::move(s));
      open = {&p.sessions.back().steps};
      continue;
    }
    const std::size_t depth = first / 2;
    if (p.sessions.empty() || depth < 1 || depth > open.size()) {
      throw bad("an action outside a session or indented too deep");
    }
    open.resize(depth);
    if (word.size() < 2 || word[0] != 'a') throw bad("expected a label aN");
    Action a;
    a.label = std::stoi(word.substr(1));
    words >> word;
    if (word == "try") {
      a.caught = true;
      words >> word;
    }
    bool known = false;
    for (int op = 0; op <= static_cast<int>(Op::pipeline); ++op) {
      if (to_string(static_cast<Op>(op)) == word) {
        a.op = static_cast<Op>(op);
        known = true;
      }
    }
    if (!known) throw bad("unknown action");
    if (words >> word) {
      if (word.starts_with("id=")) {
        a.id = std::stoi(word.substr(3));
      } else if (word.starts_with("#")) {
        a.id = std::stoi(word.substr(1));
        p.fault_points = std::max(p.fault_points, a.id + 1);
      }
    }
    open.back()->push_back(std::move(a));
    if (open.back()->back().op == Op::call ||
        open.back()->back().op == Op::pipeline) {
      open.push_back(&open.back()->back().body);
    }
  }
  return p;
}

std::string compare(const Prediction& expected,
                    const std::vector<Event>& observed) {
  const auto& ex = expected.events;
  const std::size_t common = std::min(ex.size(), observed.size());
  std::size_t first = common;
  for (std::size_t i = 0; i < common; ++i) {
    if (ex[i].what != observed[i].what ||
        !ex[i].ok.count(observed[i].outcome)) {
      first = i;
      break;
    }
  }
  if (first == common && ex.size() == observed.size()) return "";
  std::ostringstream out;
  out << "    expected                                  | observed\n";
  for (std::size_t i = 0; i < std::max(ex.size(), observed.size()); ++i) {
    std::string left, right;
    if (i < ex.size()) {
      left = ex[i].what + ": ";
      bool bar = false;
      for (const auto& o : ex[i].ok) {
        left += (bar ? "|" : "") + (o.empty() ? std::string("{}") : o);
        bar = true;
      }
    }
    if (i < observed.size()) {
      right = observed[i].what + ": " +
              (observed[i].outcome.empty() ? std::string("{}")
                                           : observed[i].outcome);
    }
    left.resize(std::max<std::size_t>(left.size(), 42), ' ');
    out << (i == first ? ">>  " : "    ") << left << "| " << right << '\n';
  }
  return out.str();
}

}  // namespace sh_model
