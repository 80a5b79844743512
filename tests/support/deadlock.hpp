#pragma once
// A deadlock whose victim is the library: the retry scenario that the
// observer and the Prometheus exporter tests both count.

#include "test_db.hpp"

namespace sh_test {

/// Runs one database.transact that updates rows 1 then 2 of `accounts`
/// (id int PRIMARY KEY, balance int), while `side` holds row 2 and asks for
/// row 1 after the unit took it and before the unit asks for row 2. The side
/// waits 10 s before it looks for deadlocks, the unit's backend 1 s after
/// the cycle is whole, so the unit is the victim: it fails with 40P01, is
/// retried and commits. Returns how many attempts the unit took (2); records
/// a test failure and returns 0 when the side never waited (within 60 s) or
/// either side threw.
int deadlock_retried_unit(soundhash::db::Database& database, Side& side);

}  // namespace sh_test
