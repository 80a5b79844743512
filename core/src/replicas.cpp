// Routing of read sessions to standbys. A standby is recognised by the
// in_hot_standby parameter the server reports at connect and on promotion
// (PostgreSQL 14 and later), so checking the role costs no round trip. Lag
// and replay position are measured with one query per standby at most once
// per status_ttl, shared by all of that standby's connections.
#include "soundhash/db/detail/replicas.hpp"

#include <libpq-fe.h>
#include <spdlog/logger.h>

#include <algorithm>
#include <optional>
#include <thread>
#include <utility>

#include "soundhash/db/detail/connection.hpp"
#include "soundhash/db/errors.hpp"
#include "soundhash/db/log.hpp"

namespace soundhash::db::detail {

namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> split_list(const char* value) {
  std::vector<std::string> out;
  if (!value || !*value) return out;
  std::string_view rest(value);
  while (true) {
    const auto comma = rest.find(',');
    out.emplace_back(rest.substr(0, comma));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return out;
}

std::string quoted(std::string_view v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

// The measuring query: the replayed position (text LSN or NULL), whether
// the standby is caught up, and the age of the last replayed commit in
// milliseconds (NULL when unknown or not a standby). Caught up means no lag,
// so an idle primary does not make an idle standby look behind; it takes a
// WAL receiver that is streaming (its status reads NULL to a role without
// pg_read_all_stats: a running receiver then counts), since a standby cut
// off from its primary has also replayed all it received. Behind, the age of
// the last replayed commit overstates the lag when the primary was idle before
// the WAL now waiting (refresh() bounds it by the last time the standby was
// seen caught up).
constexpr const char* kMeasure =
    "SELECT pg_last_wal_replay_lsn()::text, "
    "pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() "
    "AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver "
    "WHERE coalesce(status, 'streaming') = 'streaming'), "
    "CASE WHEN pg_is_in_recovery() THEN greatest(0, (extract(epoch FROM "
    "clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000))::bigint "
    "END";
constexpr const char* kReplayed = "SELECT pg_last_wal_replay_lsn()::text";

std::uint64_t lsn_of(const Field& v) {
  return v.is_null() ? 0 : CommitToken::parse(v.as<std::string>()).lsn;
}

}  // namespace

std::vector<std::string> split_hosts(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (!opts) {
    std::string why = err ? err : "out of memory";
    PQfreemem(err);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    throw InvalidArgument("Config.replica_conninfo: " + why);
  }
  std::string common;
  std::vector<std::string> hosts, addrs, ports;
  for (auto* o = opts; o->keyword; ++o) {
    const std::string_view key = o->keyword;
    if (key == "host") {
      hosts = split_list(o->val);
    } else if (key == "hostaddr") {
      addrs = split_list(o->val);
    } else if (key == "port") {
      ports = split_list(o->val);
    } else if (o->val && *o->val) {
      common += std::string(key) + "=" + quoted(o->val) + " ";
    }
  }
  PQconninfoFree(opts);
  const std::size_t n = std::max({hosts.size(), addrs.size(), std::size_t{1}});
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) {
    std::string c = common;
    if (i < hosts.size()) c += "host=" + quoted(hosts[i]) + " ";
    if (i < addrs.size()) c += "hostaddr=" + quoted(addrs[i]) + " ";
    if (!ports.empty()) {
      c += "port=" + quoted(ports.size() == 1 ? ports[0] : ports.at(i)) + " ";
    }
    if (!c.empty()) c.pop_back();
    out.push_back(std::move(c));
  }
  return out;
}

struct Replicas::Standby {
  Standby(std::string name, PoolOptions options)
      : label(std::move(name)), pool(std::move(options)) {}
  std::string label;
  Pool pool;
  std::mutex mutex;  // guards the fields below
  Clock::time_point measured_at{};
  std::optional<std::chrono::milliseconds> lag;
  std::uint64_t replayed = 0;
  Clock::time_point caught_up_at{};  // last measured as caught up
  Clock::time_point down_until{};
  std::string down_because;
};

Replicas::Replicas(const std::string& conninfo, const PoolOptions& base,
                   std::chrono::milliseconds status_ttl)
    : ttl_(status_ttl) {
  for (auto& one : split_hosts(conninfo)) {
    PoolOptions o = base;
    o.conninfo = one;
    // host:port for logs, from libpq's own parse (never the password).
    std::string host = "?", port = "5432";
    if (PQconninfoOption* opts = PQconninfoParse(one.c_str(), nullptr)) {
      for (auto* p = opts; p->keyword; ++p) {
        if (!p->val || !*p->val) continue;
        const std::string_view key = p->keyword;
        if (key == "host" || (key == "hostaddr" && host == "?")) host = p->val;
        if (key == "port") port = p->val;
      }
      PQconninfoFree(opts);
    }
    standbys_.push_back(
        std::make_unique<Standby>(host + ":" + port, std::move(o)));
  }
}

Replicas::~Replicas() = default;

void Replicas::mark_down(Standby& s, std::string why) {
  std::lock_guard lock(s.mutex);
  s.down_until = Clock::now() + ttl_;
  s.down_because = std::move(why);
  s.lag.reset();
  s.measured_at = {};
}

bool Replicas::refresh(Standby& s, Connection& conn, bool force) {
  {
    std::lock_guard lock(s.mutex);
    if (!force && s.measured_at != Clock::time_point{} &&
        Clock::now() - s.measured_at < ttl_) {
      return true;
    }
  }
  try {
    const Result r = conn.exec({kMeasure});
    const Row row = r.one();
    std::lock_guard lock(s.mutex);
    const auto now = Clock::now();
    s.replayed = lsn_of(row[0]);
    const bool caught_up = row[1].as<bool>();
    const auto age = row[2].as<std::optional<std::int64_t>>();
    if (!conn.parameter_status("in_hot_standby").starts_with("on")) {
      s.lag.reset();
    } else if (caught_up) {
      s.lag = std::chrono::milliseconds(0);
      s.caught_up_at = now;
    } else {
      // Everything committed before the standby was last seen caught up
      // has been replayed: the lag is at most the time since then.
      std::optional<std::chrono::milliseconds> lag;
      if (age) lag = std::chrono::milliseconds(*age);
      if (s.caught_up_at != Clock::time_point{}) {
        const auto since =
            std::chrono::duration_cast<std::chrono::milliseconds>(
                now - s.caught_up_at);
        lag = lag ? std::min(*lag, since) : since;
      }
      s.lag = lag;
    }
    s.measured_at = now;
    return true;
  } catch (const std::exception& e) {
    mark_down(s, e.what());
    return false;
  }
}

bool Replicas::wait_for(Standby& s, Connection& conn, CommitToken token,
                        Clock::time_point deadline) {
  while (true) {
    {
      std::lock_guard lock(s.mutex);
      if (s.replayed >= token.lsn) return true;
    }
    const Result r = conn.exec({kReplayed});
    const std::uint64_t replayed = lsn_of(r.one()[0]);
    {
      std::lock_guard lock(s.mutex);
      s.replayed = std::max(s.replayed, replayed);
      if (s.replayed >= token.lsn) return true;
    }
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

Lease Replicas::acquire(const ReadOptions& options) {
  const auto deadline = Clock::now() + options.after_wait;
  const std::size_t n = standbys_.size();
  const std::size_t first = next_.fetch_add(1, std::memory_order_relaxed);
  std::string why;
  for (std::size_t k = 0; k < n; ++k) {
    Standby& s = *standbys_[(first + k) % n];
    {
      std::lock_guard lock(s.mutex);
      if (Clock::now() < s.down_until) {
        why = s.label + ": " + s.down_because;
        continue;
      }
    }
    Lease lease;
    try {
      lease = s.pool.acquire();
    } catch (const ConnectionError& e) {
      why = s.label + ": unreachable: " + e.what();
      mark_down(s, std::string("unreachable: ") + e.what());
      continue;
    }
    if (lease->parameter_status("in_hot_standby") != "on") {
      why = s.label + ": not a standby";
      mark_down(s, "not a standby");
      continue;
    }
    if (options.max_lag) {
      if (!refresh(s, *lease, false)) {
        why = s.label + ": lag unknown";
        continue;
      }
      std::unique_lock lock(s.mutex);
      if (!s.lag || *s.lag > *options.max_lag) {
        why = s.label + ": lag " +
              (s.lag ? std::to_string(s.lag->count()) + "ms" : "unknown") +
              " over max_lag " + std::to_string(options.max_lag->count()) +
              "ms";
        continue;
      }
    }
    if (options.after) {
      bool there = false;
      try {
        there = wait_for(s, *lease, *options.after, deadline);
      } catch (const std::exception& e) {
        mark_down(s, e.what());
      }
      if (!there) {
        why = s.label + ": has not replayed " + options.after->to_string();
        continue;
      }
    }
    note_route(true, s.label);
    return lease;
  }
  note_route(false, why);
  return {};
}

void Replicas::note_route(bool on_standby, const std::string& why) {
  const int now = on_standby ? 1 : 0;
  if (route_.exchange(now, std::memory_order_relaxed) == now) return;
  if (on_standby) {
    logger().info("Read sessions run on standbys again ({})", why);
  } else {
    logger().warn("Read sessions fall back to the primary: {}", why);
  }
}

PoolStats Replicas::stats() const {
  PoolStats sum;
  for (const auto& s : standbys_) {
    const PoolStats p = s->pool.stats();
    sum.max_size += p.max_size;
    sum.open += p.open;
    sum.idle += p.idle;
    sum.in_use += p.in_use;
    sum.created += p.created;
    sum.discarded += p.discarded;
    sum.timeouts += p.timeouts;
    sum.resets += p.resets;
  }
  return sum;
}

std::vector<ReplicaStatus> Replicas::status() {
  std::vector<ReplicaStatus> out;
  for (auto& s : standbys_) {
    ReplicaStatus st;
    st.server = s->label;
    try {
      Lease lease = s->pool.acquire();
      st.standby = lease->parameter_status("in_hot_standby") == "on";
      if (refresh(*s, *lease, true)) {
        st.reachable = true;
        std::lock_guard lock(s->mutex);
        st.lag = s->lag;
        st.replayed.lsn = s->replayed;
      } else {
        std::lock_guard lock(s->mutex);
        st.error = s->down_because;
      }
    } catch (const std::exception& e) {
      st.error = e.what();
    }
    out.push_back(std::move(st));
  }
  return out;
}

}  // namespace soundhash::db::detail
