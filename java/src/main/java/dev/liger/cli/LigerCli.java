package dev.liger.cli;

import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * Entry point of the {@code liger} command. Subcommands are listed in {@link Subcommands}; errors become one
 * readable line on stderr and a non-zero exit (set LIGER_DEBUG=1 for the stack trace).
 */
@Command(name = "liger", mixinStandardHelpOptions = true, version = "liger 0.1.0",
        description = "Load Hugging Face Llama-family checkpoints, linearize them with Liger, fine-tune, generate.",
        subcommandsRepeatable = false)
public final class LigerCli implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a command is required");
    }

    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new LigerCli());
        for (Object sub : Subcommands.all()) cl.addSubcommand(sub);
        cl.setExecutionExceptionHandler((ex, line, parse) -> {
            PrintWriter err = line.getErr();
            err.println("liger " + line.getCommandName() + ": error: " + message(ex));
            if (debug()) ex.printStackTrace(err);
            err.flush();
            return ex instanceof IllegalArgumentException ? 2 : 1;
        });
        cl.setParameterExceptionHandler((ex, args) -> {
            CommandLine line = ex.getCommandLine();
            PrintWriter err = line.getErr();
            err.println("liger: " + ex.getMessage());
            err.println("Try '" + line.getCommandSpec().qualifiedName() + " --help' for usage.");
            err.flush();
            return 2;
        });
        return cl;
    }

    static boolean debug() {
        String d = System.getenv("LIGER_DEBUG");
        return d != null && !d.isBlank() && !d.equals("0");
    }

    /** The most useful single line for an exception: its own message, else its cause's, else its type. */
    static String message(Throwable ex) {
        for (Throwable t = ex; t != null; t = t.getCause()) {
            String m = t.getMessage();
            if (m != null && !m.isBlank()) {
                String first = m.strip().lines().findFirst().orElse(m);
                return t instanceof OutOfMemoryError ? "out of memory: " + first : first;
            }
        }
        return ex.getClass().getSimpleName();
    }

    public static void main(String[] args) {
        // DJL logs through SLF4J, which warns on stderr when no backend is present; keep the CLI output clean.
        if (System.getProperty("slf4j.internal.verbosity") == null) System.setProperty("slf4j.internal.verbosity", "ERROR");
        CommandLine cl = commandLine();
        cl.setOut(new PrintWriter(new java.io.OutputStreamWriter(System.out, java.nio.charset.StandardCharsets.UTF_8), true));
        cl.setErr(new PrintWriter(new java.io.OutputStreamWriter(System.err, java.nio.charset.StandardCharsets.UTF_8), true));
        System.exit(cl.execute(args));
    }
}
