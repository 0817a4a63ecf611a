package dev.liger.eval;

import java.util.List;

/** One multiple-choice item: the context, the candidate continuations (appended verbatim), the gold index. */
public record Question(String context, List<String> choices, int gold, String source) {
  public Question {
    if (context == null) throw new IllegalArgumentException(source + ": context is required");
    if (choices == null || choices.size() < 2) throw new IllegalArgumentException(source + ": need at least 2 choices");
    for (String c : choices) if (c == null || c.isEmpty()) throw new IllegalArgumentException(source + ": choices must be non-empty strings");
    if (gold < 0 || gold >= choices.size()) {
      throw new IllegalArgumentException(source + ": gold " + gold + " is not a choice index (0.." + (choices.size() - 1) + ")");
    }
    choices = List.copyOf(choices);
  }
}
