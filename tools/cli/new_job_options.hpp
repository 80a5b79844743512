#pragma once
// The options that describe a job to create (db::NewJob's fields), shared by
// `jobs enqueue` and `schedules set`: each command lists the ones it accepts
// in its own option table, and this reads whichever were given.

#include "args.hpp"
#include "soundhash/db/models.hpp"

namespace soundhash::cli {

/// Sets job.parameters, priority, max_retries, delay, timeout and
/// concurrency_key from --params, --priority, --max-retries, --delay,
/// --timeout and --key, where given; throws UsageError for a bad value.
void read_new_job_options(const ParsedArgs& args, db::NewJob& job);

}  // namespace soundhash::cli
