#pragma once
// JSON output for scripts (`status --json`, `match --json`), written with
// nlohmann/json so that escaping is never ours to get wrong.

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

namespace soundhash::cli {

/// Objects keep their keys in the order written: scripts and people read
/// the output, and it stays as the tool always printed it.
using Json = nlohmann::ordered_json;

/// `value` as a JSON number, written as the tool always wrote it: a whole
/// number without a fraction ("40", not "40.0"), any other shortest.
Json json_number(double value);

/// Prints `value` compactly on one line. Text that is not valid UTF-8 is
/// replaced (U+FFFD) rather than failing the command.
void print_json_line(std::FILE* out, const Json& value);

/// `value` compact, as print_json_line writes it, without the newline.
std::string json_dump(const Json& value);

}  // namespace soundhash::cli
