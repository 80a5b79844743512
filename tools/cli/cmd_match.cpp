// `soundhash-db match [FILE]`: identify a clip from its hashes, read as
// `HASH OFFSET` lines, with VideoRepository::find_matches.

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <tuple>
#include <vector>

#include "cli.hpp"
#include "commands.hpp"
#include "format.hpp"
#include "json_output.hpp"
#include "schema_hint.hpp"
#include "soundhash/db/database.hpp"
#include "soundhash/db/models.hpp"
#include "soundhash/db/video_repository.hpp"

namespace soundhash::cli {
namespace {

constexpr std::int64_t kDefaultLimit = 10;
constexpr std::int64_t kMaxLimit = 10'000;

// The YouTube id and title of each candidate, for the output.
constexpr std::string_view kVideoNamesSql =
    "SELECT id, video_id, title FROM videos WHERE id = ANY($1)";

constexpr OptionSpec kOptions[] = {
    {"--limit", "", "N", "at most N candidates (default 10)"},
    {"--bin", "", "SECONDS",
     "width of the offset bins the vote counts in (default 0.1)"},
    {"--json", "", "", "print a JSON array instead of a table"},
};

double parse_seconds(std::string_view text, std::string_view what,
                     bool zero_allowed) {
  double v = 0;
  const auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() ||
      !std::isfinite(v) || v < 0 || (!zero_allowed && v == 0)) {
    throw UsageError(fmt::format("{}: '{}' is not a number of seconds {}", what,
                                 printable(text),
                                 zero_allowed ? ">= 0" : "> 0"));
  }
  return v;
}

// `HASH OFFSET` per line; blank lines and lines starting with '#' skipped.
std::vector<db::QueryHash> read_query(std::istream& in,
                                      const std::string& source) {
  std::vector<db::QueryHash> query;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    std::istringstream words(line);
    std::string hash, offset, extra;
    if (!(words >> hash) || hash.front() == '#') continue;
    if (!(words >> offset) || (words >> extra)) {
      throw UsageError(fmt::format("{}:{}: expected 'HASH OFFSET', got '{}'",
                                   source, number, printable(line)));
    }
    query.push_back(
        {hash,
         parse_seconds(offset, fmt::format("{}:{}", source, number), true)});
  }
  if (in.bad()) throw Failure(fmt::format("{}: read error", source));
  if (query.empty()) {
    throw UsageError(fmt::format("{}: no 'HASH OFFSET' lines", source));
  }
  return query;
}

struct Named {
  std::string video_id;
  std::optional<std::string> title;
};

int run_match(const Invocation& inv) {
  const auto limit_arg = inv.args.value("--limit");
  const int limit = static_cast<int>(
      limit_arg ? parse_integer(*limit_arg, "--limit", 1, kMaxLimit)
                : kDefaultLimit);
  const auto bin_arg = inv.args.value("--bin");
  const double bin = bin_arg ? parse_seconds(*bin_arg, "--bin", false)
                             : db::MatchCandidate::default_bin_seconds;
  const bool json = inv.args.flag("--json");

  std::vector<db::QueryHash> query;
  const auto& pos = inv.args.positionals;
  if (pos.empty() || pos[0] == "-") {
    query = read_query(std::cin, "<stdin>");
  } else {
    std::ifstream file(pos[0]);
    if (!file) {
      throw Failure(fmt::format("cannot open '{}'", printable(pos[0])));
    }
    query = read_query(file, pos[0]);
  }

  db::Database database{inv.context.effective};
  using Found =
      std::pair<std::vector<db::MatchCandidate>, std::map<std::int64_t, Named>>;
  const Found found = needing_schema([&] {
    return database.transact([&](db::Session& s) {
      Found f;
      f.first = db::VideoRepository{s}.find_matches(query, limit, bin);
      std::vector<std::int64_t> ids;
      for (const auto& c : f.first) ids.push_back(c.video_id);
      if (ids.empty()) return f;
      for (const auto& r : s.read(kVideoNamesSql, ids)) {
        f.second[r[0].as<std::int64_t>()] = {
            r[1].as<std::string>(), r[2].as<std::optional<std::string>>()};
      }
      return f;
    });
  });
  const auto& [candidates, names] = found;

  if (json) {
    // One candidate per line, as it always was, so that a long list reads
    // well in a terminal and still parses as one array.
    fmt::print("[");
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      const auto& c = candidates[i];
      const auto& n = names.at(c.video_id);
      const Json candidate = {
          {"rank", i + 1},
          {"id", c.video_id},
          {"video_id", n.video_id},
          {"title", n.title ? Json(*n.title) : nullptr},
          {"matched_hashes", c.matched_hashes},
          {"hashes_in_video", c.hashes_in_video},
          {"offset", json_number(c.offset)},
          {"score", json_number(c.score)},
      };
      fmt::print("{}{}", i ? ",\n " : "", json_dump(candidate));
    }
    fmt::print("]\n");
    return kExitOk;
  }
  if (candidates.empty()) {
    fmt::print("no match\n");
    return kExitOk;
  }
  Table t({"rank", "id", "video_id", "title", "matched", "in_video", "offset",
           "score"},
          {true, true, false, false, true, true, true, true});
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const auto& c = candidates[i];
    const auto& n = names.at(c.video_id);
    t.add_row({std::to_string(i + 1), std::to_string(c.video_id), n.video_id,
               n.title.value_or("-"), std::to_string(c.matched_hashes),
               std::to_string(c.hashes_in_video),
               fmt::format("{:.2f}", c.offset),
               fmt::format("{:.3f}", c.score)});
  }
  t.print(stdout);
  return kExitOk;
}

}  // namespace

const Command& match_command() {
  static const Command kCommand{
      .name = "match",
      .synopsis = "[FILE] [--limit N] [--bin SECONDS] [--json]",
      .summary = "identify a clip from its fingerprint hashes",
      .description =
          "Reads a query clip as 'HASH OFFSET' lines (OFFSET: seconds into\n"
          "the clip) from FILE, or from standard input when FILE is absent\n"
          "or '-'; blank lines and lines starting with '#' are skipped.\n"
          "Prints the candidate videos, best first (find_matches: one\n"
          "statement, an offset-histogram vote): rank, id (videos.id),\n"
          "video_id, title, matched (hashes lined up at the offset),\n"
          "in_video (hashes found anywhere in the video), offset (where the\n"
          "clip starts in the video, seconds) and score (matched / hashes\n"
          "read). Prints \"no match\" (or [] with --json) and exits 0 when\n"
          "no video holds any of the hashes.",
      .options = kOptions,
      .min_positionals = 0,
      .max_positionals = 1,
      .run = run_match,
  };
  return kCommand;
}

}  // namespace soundhash::cli
