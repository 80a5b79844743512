#include "command_line.hpp"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string_view>
#include <vector>

#include "context.hpp"
#include "format.hpp"
#include "help.hpp"

namespace soundhash::cli {
namespace {

// A command's CLI11 subcommand, with its options as declared.
struct Leaf {
  const Command* command = nullptr;
  CLI::Option* positionals = nullptr;
  std::vector<std::pair<const OptionSpec*, CLI::Option*>> options;
};

// The whole command tree, built from the Command tables: the root takes the
// global options (subcommands fall through to it, so they are accepted
// before or after the command), groups ("jobs") take one subcommand each.
class Parser {
 public:
  Parser() {
    root_.name("soundhash-db");
    // Unknown arguments are collected rather than thrown, so the error can
    // name the first of them (see check_remaining).
    root_.allow_extras();
    root_.fallthrough();
    root_.require_subcommand(0, 1);
    for (const auto& o : global_options())
      globals_.emplace_back(&o, add(root_, o));
    const std::string version_help = "show the version";
    version_ = root_.add_flag("--version", version_help);
    for (const auto* c : all_commands()) add_command(*c);
  }

  CommandLine parse(std::span<const std::string> args) {
    // Everything after "--" is a positional argument of the command. Split
    // here because CLI11 2.1 ends a subcommand at "--" when its positionals
    // are optional.
    const auto mark = std::find(args.begin(), args.end(), "--");
    const std::vector<std::string> after_mark(
        mark == args.end() ? mark : mark + 1, args.end());
    // CLI11 takes the arguments last first.
    std::vector<std::string> reversed(std::make_reverse_iterator(mark),
                                      args.rend());
    try {
      root_.parse(reversed);
    } catch (const CLI::CallForHelp&) {
      return help(deepest());
    } catch (const CLI::ParseError& e) {
      throw error(translate(e), deepest());
    }
    CLI::App* innermost = deepest();
    check_remaining(innermost);
    if (version_->count() > 0) return {.action = CommandLine::Action::version};
    if (innermost == &root_) throw error("missing command", innermost);
    const auto leaf = leaves_.find(innermost);
    if (leaf == leaves_.end()) {
      throw error(fmt::format("{}: missing subcommand ({})",
                              innermost->get_name(), subcommands(innermost)),
                  innermost);
    }
    CommandLine out;
    out.command = leaf->second.command;
    read_values(leaf->second, out.args);
    out.args.positionals.insert(out.args.positionals.end(), after_mark.begin(),
                                after_mark.end());
    check_positionals(*out.command, out.args, innermost);
    return out;
  }

 private:
  static std::string cli11_names(const OptionSpec& o) {
    return o.alias.empty() ? std::string(o.name)
                           : fmt::format("{},{}", o.alias, o.name);
  }

  // One OptionSpec, one CLI11 option: a flag without a metavar, else an
  // option with one value, the last of which wins when it is repeated.
  static CLI::Option* add(CLI::App& app, const OptionSpec& o) {
    const std::string help(o.help);
    if (o.metavar.empty()) {
      return app.add_flag(cli11_names(o), help)->disable_flag_override();
    }
    return app.add_option(cli11_names(o), CLI::callback_t{}, help)
        ->type_name(std::string(o.metavar))
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }

  void add_command(const Command& c) {
    CLI::App* parent = &root_;
    std::string_view leaf_name = c.name;
    if (const auto space = c.name.find(' '); space != std::string_view::npos) {
      const std::string group(c.name.substr(0, space));
      leaf_name = c.name.substr(space + 1);
      auto& known = groups_by_name_[group];
      if (known == nullptr) {
        known = root_.add_subcommand(group);
        known->require_subcommand(0, 1);
        groups_.insert(known);
      }
      parent = known;
    }
    CLI::App* app =
        parent->add_subcommand(std::string(leaf_name), std::string(c.summary));
    Leaf leaf{.command = &c};
    for (const auto& o : c.options) leaf.options.emplace_back(&o, add(*app, o));
    leaf.positionals = app->add_option("args", CLI::callback_t{}, "")
                           ->expected(0, std::numeric_limits<int>::max())
                           ->allow_extra_args();
    leaves_.emplace(app, std::move(leaf));
  }

  // The last subcommand the command line reached (the root if none).
  CLI::App* deepest() {
    CLI::App* app = &root_;
    for (;;) {
      const auto subs = app->get_subcommands();
      if (subs.empty()) return app;
      app = subs.front();
    }
  }

  CommandLine help(CLI::App* app) {
    if (app == &root_) return {.action = CommandLine::Action::main_help};
    if (const auto leaf = leaves_.find(app); leaf != leaves_.end()) {
      return {.action = CommandLine::Action::command_help,
              .command = leaf->second.command};
    }
    return {.action = CommandLine::Action::group_help,
            .group = app->get_name()};
  }

  // "jobs list" for a command, "jobs" for a group, "" for the root.
  std::string path(const CLI::App* app) const {
    if (app == &root_) return "";
    const std::string up = path(app->get_parent());
    return up.empty() ? app->get_name() : up + " " + app->get_name();
  }

  CommandLineError error(const std::string& message, CLI::App* at) const {
    const bool is_command = leaves_.contains(at);
    return {message, is_command ? path(at) : "", path(at)};
  }

  std::string subcommands(CLI::App* group) const {
    std::string out;
    for (const auto* sub : group->get_subcommands({})) {
      if (!out.empty()) out += ", ";
      out += sub->get_name();
    }
    return out;
  }

  // The first argument nothing took: an unknown option, or a word that is
  // no command here.
  void check_remaining(CLI::App* at) {
    const auto extra = root_.remaining(true);
    if (extra.empty()) return;
    const std::string& first = extra.front();
    if (first.size() > 1 && first[0] == '-') {
      throw error(fmt::format("unknown option '{}'",
                              printable(first.substr(0, first.find('=')))),
                  at);
    }
    if (groups_.contains(at)) {
      throw error(
          fmt::format("unknown command '{} {}' ({} has: {})", at->get_name(),
                      printable(first), at->get_name(), subcommands(at)),
          at);
    }
    if (at == &root_) {
      throw error(fmt::format("unknown command '{}'", printable(first)), at);
    }
    throw error(fmt::format("unexpected argument '{}'", printable(first)), at);
  }

  // CLI11's message for what went wrong, in the words the tool has always
  // used where scripts may match them.
  std::string translate(const CLI::ParseError& e) const {
    const std::string what = e.what();
    const auto spec = spec_named(what.substr(0, what.find_first_of(": ")));
    if (spec != nullptr && dynamic_cast<const CLI::ArgumentMismatch*>(&e)) {
      if (spec->metavar.empty()) {
        return fmt::format("option '{}' takes no value", spec->name);
      }
      return fmt::format("option '{}' needs a value ({})", spec->name,
                         spec->metavar);
    }
    return what;
  }

  const OptionSpec* spec_named(std::string_view name) const {
    // CLI11 names an option with or without its dashes, depending on the
    // message.
    const auto bare = [](std::string_view n) {
      return n.substr(std::min(n.find_first_not_of('-'), n.size()));
    };
    const auto matches = [&](const OptionSpec* o) {
      return bare(o->name) == bare(name) ||
             (!o->alias.empty() && bare(o->alias) == bare(name));
    };
    for (const auto& [o, opt] : globals_) {
      if (matches(o)) return o;
    }
    for (const auto& [app, leaf] : leaves_) {
      for (const auto& [o, opt] : leaf.options) {
        if (matches(o)) return o;
      }
    }
    return nullptr;
  }

  static void read_option(const OptionSpec& o, const CLI::Option& opt,
                          ParsedArgs& out) {
    if (opt.count() == 0) return;
    if (o.metavar.empty()) {
      out.flags.insert(std::string(o.name));
    } else {
      out.values[std::string(o.name)] = opt.as<std::string>();
    }
  }

  void read_values(const Leaf& leaf, ParsedArgs& out) const {
    for (const auto& [o, opt] : globals_) read_option(*o, *opt, out);
    for (const auto& [o, opt] : leaf.options) read_option(*o, *opt, out);
    out.positionals = leaf.positionals->results();
  }

  // The name of positional argument `index` as the synopsis spells it
  // ("TARGET" in "TYPE TARGET [--params JSON]").
  static std::string positional_name(const Command& c, std::size_t index) {
    std::size_t start = 0;
    for (std::size_t i = 0;; ++i) {
      const auto end = std::min(c.synopsis.find(' ', start), c.synopsis.size());
      const auto word = c.synopsis.substr(start, end - start);
      if (word.empty() || word.starts_with("[")) return "argument";
      if (i == index) return std::string(word);
      start = end + 1;
      if (start >= c.synopsis.size()) return "argument";
    }
  }

  void check_positionals(const Command& c, const ParsedArgs& args,
                         CLI::App* at) const {
    const auto n = args.positionals.size();
    if (n < c.min_positionals) {
      throw error(fmt::format("missing {}", positional_name(c, n)), at);
    }
    if (n > c.max_positionals) {
      throw error(fmt::format("unexpected argument '{}'",
                              printable(args.positionals[c.max_positionals])),
                  at);
    }
  }

  CLI::App root_;
  CLI::Option* version_ = nullptr;
  std::vector<std::pair<const OptionSpec*, CLI::Option*>> globals_;
  std::map<CLI::App*, Leaf> leaves_;
  std::set<CLI::App*> groups_;
  std::map<std::string, CLI::App*> groups_by_name_;
};

}  // namespace

CommandLine parse_command_line(std::span<const std::string> args) {
  Parser parser;
  return parser.parse(args);
}

}  // namespace soundhash::cli
