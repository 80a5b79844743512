#pragma once
// A deadlock whose victim is the library: the retry scenario that the
// observer and the Prometheus exporter tests both count.

#include "test_db.hpp"

namespace sh_test {

/// Runs one database.transact that updates rows 1 then 2 of `accounts`
/// (id int PRIMARY KEY, balance int), while `side` holds row 2 and then asks
/// for row 1. The side waits 10 s before it looks for deadlocks, so the
/// library's backend finds the cycle and its unit is the victim: it fails
/// with 40P01, is retried and commits. Returns how many attempts the unit
/// took: usually 2; more when a re-run takes row 1 again before the side's
/// woken UPDATE does and is the victim once more. Records a test failure and
/// returns 0 when the unit never waited for the side's lock (within 60 s).
int deadlock_retried_unit(soundhash::db::Database& database, Side& side);

}  // namespace sh_test
