package dev.liger.cli;

import java.util.List;

/** The one place where subcommands are registered: add a new command class (one per file) to this list. */
final class Subcommands {
    private Subcommands() {}

    static List<Object> all() {
        return List.of(
                new InfoCommand(),
                new GenerateCommand(),
                new ScoreCommand(),
                new LinearizeCommand(),
                new FinetuneCommand(),
                new EvalCommand(),
                new ExportCommand(),
                new DemoCommand());
    }
}
