/**
 * The end of every benchmark's report: each target of the issue it measures with its verdict, and the
 * exit code that follows from them. A benchmark that cannot judge a target says which and why, and
 * never ends in success: "0 pass, 0 fail" is exit 3, not 0.
 *
 * - `pass` / `fail`: judged from a measurement of this run.
 * - `unjudged`: the run should have judged it and could not (a member never started, a peer tool is
 *   missing, a run failed, nothing was measured). Printed as "could not judge: X (why)".
 * - `not-in-run`: outside what this run was asked to measure (a peer left out with a flag, a capture
 *   too small for a speed target, fewer sizes than a trend needs). Listed, but not a failure.
 */

export type TargetVerdict = 'pass' | 'fail' | 'unjudged' | 'not-in-run';

export interface TargetResult {
  /** What is promised, e.g. "sniffmesh >= 3.5 M packets/s (median)". */
  description: string;
  verdict: TargetVerdict;
  /** pass/fail: the measured figure; otherwise why it was not judged. */
  detail: string;
}

/** Exit codes of every benchmark (also in each `--help`). */
export const BENCH_EXIT = {
  /** Every target judged in this run passed, and at least one was judged. */
  allPassed: 0,
  /** At least one target failed. */
  targetFailed: 1,
  /** Unknown flag or bad value. */
  usage: 2,
  /** A target could not be judged, none was judged, or the benchmark stopped before its report. */
  unjudged: 3,
} as const;

export const BENCH_EXIT_HELP = `Exit codes:
  0  every target judged in this run passed (and at least one was judged)
  1  at least one target failed (takes precedence over 3)
  2  usage error: unknown flag or bad value
  3  a target could not be judged (a member never started, a peer tool is missing, a run failed,
     no measurement), no target was judged at all, or the benchmark stopped before its report`;

/** Why a target has no verdict. */
export interface NoVerdict {
  verdict: 'unjudged' | 'not-in-run';
  why: string;
}

/** The reason that decides: outside this run comes first (then nothing else matters), then unjudged. */
export function decidingReason(...reasons: (NoVerdict | undefined)[]): NoVerdict | undefined {
  return reasons.find((reason) => reason?.verdict === 'not-in-run') ?? reasons.find(Boolean);
}

export function judged(description: string, pass: boolean, measured: string): TargetResult {
  return { description, verdict: pass ? 'pass' : 'fail', detail: measured };
}

export function unjudged(description: string, why: string): TargetResult {
  return { description, verdict: 'unjudged', detail: why };
}

export function notInRun(description: string, why: string): TargetResult {
  return { description, verdict: 'not-in-run', detail: why };
}

export interface TargetCounts {
  pass: number;
  fail: number;
  unjudged: number;
  notInRun: number;
}

export function countTargets(targets: readonly TargetResult[]): TargetCounts {
  const count = (verdict: TargetVerdict) => targets.filter((target) => target.verdict === verdict).length;
  return {
    pass: count('pass'),
    fail: count('fail'),
    unjudged: count('unjudged'),
    notInRun: count('not-in-run'),
  };
}

export function benchExitCode(targets: readonly TargetResult[]): number {
  const counts = countTargets(targets);
  if (counts.fail > 0) return BENCH_EXIT.targetFailed;
  if (counts.unjudged > 0 || counts.pass === 0) return BENCH_EXIT.unjudged;
  return BENCH_EXIT.allPassed;
}

/** `PASS  X: measured`, `FAIL  X: measured`, `could not judge: X (why)` or `not in this run: X (why)`. */
export function targetLine(target: TargetResult): string {
  switch (target.verdict) {
    case 'pass':
      return `PASS  ${target.description}: ${target.detail}`;
    case 'fail':
      return `FAIL  ${target.description}: ${target.detail}`;
    case 'unjudged':
      return `could not judge: ${target.description} (${target.detail})`;
    default:
      return `not in this run: ${target.description} (${target.detail})`;
  }
}

/** One line per target, then `Targets: P pass, F fail, U could not judge[, N not in this run] (exit E)`. */
export function formatTargets(targets: readonly TargetResult[]): string {
  const lines = ['Targets:', ...targets.map((target) => `  ${targetLine(target)}`)];
  if (targets.length === 0) lines.push('  could not judge: no target was measured');
  const counts = countTargets(targets);
  lines.push(
    `Targets: ${counts.pass} pass, ${counts.fail} fail, ${counts.unjudged} could not judge` +
      `${counts.notInRun > 0 ? `, ${counts.notInRun} not in this run` : ''} (exit ${benchExitCode(targets)})`,
  );
  return lines.join('\n');
}
