/**
 * Why `replay`, `export` or `eval` could not start, each with an exit code of its own, so a
 * CI job can tell a typo in a run id from a run that has not ended yet or a file from a newer
 * looprail (0 and 2 stay the review's own answers: the same, or a difference found).
 */

export const REVIEW_INPUT_EXITS = {
  /** No run with that id in the state folder. */
  no_such_run: 3,
  /** The run has not ended (running, queued or paused for a person): nothing complete to replay. */
  run_not_ended: 4,
  /** An export written by a newer looprail, in a format this one does not read. */
  export_too_new: 5,
  /** A file that does not load: not an export, or a suite with an unknown key or a wrong value. */
  bad_file: 6,
  /** A run this looprail cannot replay soundly (a checker's run, sub-agents, a sandbox). */
  not_replayable: 7,
} as const;

export type ReviewInputProblem = keyof typeof REVIEW_INPUT_EXITS;

export class ReviewInputError extends Error {
  override readonly name = 'ReviewInputError';
  readonly problem: ReviewInputProblem;
  constructor(problem: ReviewInputProblem, message: string) {
    super(message);
    this.problem = problem;
  }

  get exitCode(): number {
    return REVIEW_INPUT_EXITS[this.problem];
  }
}
