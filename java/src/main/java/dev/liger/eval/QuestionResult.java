package dev.liger.eval;

import java.util.List;

/** Scores of one question's choices and the picks by raw (acc) and byte-normalised (acc_norm) likelihood. */
public record QuestionResult(Question question, List<ChoiceScore> scores, int predicted, int predictedNorm) {
  public boolean correct() { return predicted == question.gold(); }
  public boolean correctNorm() { return predictedNorm == question.gold(); }
}
