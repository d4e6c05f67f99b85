// Subcommands register themselves here, one file per subcommand (cmd_<name>.cpp), so adding a
// command never touches main.cpp.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace i2v::cli {

// Adds a subcommand to `app`. The returned callback runs it and yields the exit code.
using CommandFactory = std::function<void(CLI::App& app, std::function<int()>& run)>;

struct CommandEntry {
  int order;  // position in --help
  CommandFactory factory;
};

std::vector<CommandEntry>& command_registry();

struct RegisterCommand {
  RegisterCommand(int order, CommandFactory f) {
    command_registry().push_back({order, std::move(f)});
  }
};

}  // namespace i2v::cli
