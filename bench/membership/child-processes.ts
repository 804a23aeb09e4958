/**
 * Every process the membership benchmark starts goes through here, so that all of them can be killed
 * on exit, on Ctrl-C and on failure. Each child gets its own process group (`detached`), which keeps a
 * terminal's Ctrl-C away from the members (a Serf agent would otherwise leave gracefully in the middle
 * of the cleanup) and lets us kill a child together with anything it forked (stress-ng's workers).
 */

import { type ChildProcess, spawn } from 'node:child_process';

const STDERR_TAIL_BYTES = 4096;

export interface TrackedChild {
  process: ChildProcess;
  pid: number;
  /** Resolves when the process has exited (code or signal). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited(): boolean;
  /** The last few KiB of stderr, for error messages. */
  stderrTail(): string;
}

const liveChildren = new Set<TrackedChild>();

export function spawnTracked(command: string, args: readonly string[]): TrackedChild {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stderr = '';
  let exited = false;
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL_BYTES);
  });
  const tracked: TrackedChild = {
    process: child,
    pid: child.pid ?? -1,
    exited: new Promise((resolve) => {
      const finish = (code: number | null, signal: NodeJS.Signals | null) => {
        exited = true;
        liveChildren.delete(tracked);
        resolve({ code, signal });
      };
      child.on('exit', finish);
      child.on('error', () => finish(null, null));
    }),
    hasExited: () => exited,
    stderrTail: () => stderr.trim(),
  };
  liveChildren.add(tracked);
  return tracked;
}

/** Signals one child's whole process group; ignores a group that is already gone. */
export function signalGroup(child: TrackedChild, signal: NodeJS.Signals): void {
  if (child.hasExited() || child.pid <= 0) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Exited meanwhile.
  }
}

/** Signals only the child itself (a graceful leave must reach the member, not a helper it forked). */
export function signalChild(child: TrackedChild, signal: NodeJS.Signals): void {
  if (child.hasExited() || child.pid <= 0) return;
  try {
    process.kill(child.pid, signal);
  } catch {
    // Exited meanwhile.
  }
}

/** SIGKILLs every child still running. Synchronous, so it also works from an 'exit' handler. */
export function killAllChildren(): void {
  for (const child of [...liveChildren]) signalGroup(child, 'SIGKILL');
}

/** SIGKILLs the given children and waits (at most `timeoutMs`) until they are gone. */
export async function killAndWait(children: readonly TrackedChild[], timeoutMs = 5000): Promise<void> {
  for (const child of children) signalGroup(child, 'SIGKILL');
  await Promise.race([
    Promise.all(children.map((child) => child.exited)),
    new Promise((resolve) => setTimeout(resolve, timeoutMs)),
  ]);
}
