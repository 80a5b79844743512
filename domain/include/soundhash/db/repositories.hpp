#pragma once
// The ways to get a repository.
//
// Scoped (recommended): the repository owns its Session and commits when the
// block ends, rolling back if an exception leaves it.
//
//   { auto repo = db::video_repository(); repo->create_channel("UC1"); }
//
// Shared session: several repositories, one unit of work.
//
//   { auto s = db::get_db_session();
//     db::VideoRepository videos{s};
//     db::JobRepository jobs{s}; ... }   // one COMMIT for both
//
// Deprecated manual form: the caller commits and closes by hand; what it does
// not commit is rolled back when the repository is destroyed.
//
//   auto repo = db::get_video_repository();
//   repo.create_channel("UC1");
//   repo.session().commit();
//   repo.session().close();

#include "soundhash/db/database.hpp"
#include "soundhash/db/job_repository.hpp"
#include "soundhash/db/session.hpp"
#include "soundhash/db/video_repository.hpp"

namespace soundhash::db {

/// A repository together with the Session it owns. Use `->` to call it.
template <class Repo>
class Scoped {
 public:
  /// Opens a scoped Session on `db` (committed when this object is
  /// destroyed normally) and a `Repo` working in it.
  explicit Scoped(Database& db, TxOptions options = {})
      : session_(db.session(options)), repo_(session_) {}

  /// The repository, for `scoped->method(...)`.
  Repo* operator->() noexcept { return &repo_; }
  /// The repository.
  Repo& operator*() noexcept { return repo_; }
  /// The owned session (commit early, roll back, or share it).
  Session& session() noexcept { return session_; }

 private:
  Session session_;  // declared first: destroyed (committed) last
  Repo repo_;
};

namespace detail {
struct ManualSessionHolder {
  explicit ManualSessionHolder(Database& db)
      : held_session(db.manual_session()) {}
  Session held_session;
};
}  // namespace detail

/// A repository owning a manual Session (the deprecated form's type).
template <class Repo>
class Manual : private detail::ManualSessionHolder, public Repo {
 public:
  /// Opens a manual Session on `db` (uncommitted work is rolled back when
  /// this object is destroyed) and a `Repo` working in it.
  explicit Manual(Database& db)
      : detail::ManualSessionHolder(db), Repo(held_session) {}
};

/// A VideoRepository with its own Session on `db`, committing at scope exit.
[[nodiscard]] inline Scoped<VideoRepository> video_repository(
    Database& db = Database::global(), TxOptions options = {}) {
  return Scoped<VideoRepository>(db, options);
}
/// A JobRepository with its own Session on `db`, committing at scope exit.
[[nodiscard]] inline Scoped<JobRepository> job_repository(
    Database& db = Database::global(), TxOptions options = {}) {
  return Scoped<JobRepository>(db, options);
}

/// Deprecated: the caller must `session().commit()`; uncommitted work is
/// rolled back at destruction. Use video_repository() instead.
[[deprecated(
    "use video_repository(): it commits at scope "
    "exit")]] [[nodiscard]] inline Manual<VideoRepository>
get_video_repository(Database& db = Database::global()) {
  return Manual<VideoRepository>(db);
}
/// Deprecated: the caller must `session().commit()`; uncommitted work is
/// rolled back at destruction. Use job_repository() instead.
[[deprecated(
    "use job_repository(): it commits at scope "
    "exit")]] [[nodiscard]] inline Manual<JobRepository>
get_job_repository(Database& db = Database::global()) {
  return Manual<JobRepository>(db);
}

}  // namespace soundhash::db
