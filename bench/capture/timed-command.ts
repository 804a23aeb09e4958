/**
 * Runs one command under GNU time and reports whole-process wall time (spawn to exit, start-up
 * included) and peak resident set size. Peak RSS comes from wait4's rusage via `/usr/bin/time -f %M`
 * (KiB; for a command that forks, the largest of the processes it waited for).
 */

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SniffmeshError } from '../../src/util/errors.js';

const GNU_TIME = '/usr/bin/time';
const KIB_BYTES = 1024;
const MAX_KEPT_STDERR_BYTES = 64 * 1024;

export interface TimedResult {
  command: string[];
  wallSeconds: number;
  peakRssBytes: number;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Captured only when asked for (`captureStdout`); otherwise empty. */
  stdout: string;
  /** The last MAX_KEPT_STDERR_BYTES of the command's stderr (GNU time's own line is not in it). */
  stderr: string;
}

export interface TimedOptions {
  captureStdout?: boolean;
  /** Kill the command (SIGKILL) after this long. */
  timeoutMs?: number;
  cwd?: string;
}

export class BenchCommandError extends SniffmeshError {
  override name = 'BenchCommandError';
  readonly command: string[];

  constructor(command: string[], message: string, cause?: unknown) {
    super('BENCH_COMMAND_FAILED', `${command.join(' ')}: ${message}`, { cause });
    this.command = command;
  }
}

export function runTimed(command: string[], options: TimedOptions = {}): Promise<TimedResult> {
  const scratch = mkdtempSync(path.join(tmpdir(), 'sniffmesh-time-'));
  const timeFile = path.join(scratch, 'time.txt');
  return new Promise<TimedResult>((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(GNU_TIME, ['-f', '%e %M', '-o', timeFile, ...command], {
      cwd: options.cwd,
      stdio: ['ignore', options.captureStdout ? 'pipe' : 'ignore', 'pipe'],
    });
    const stdoutChunks: Buffer[] = [];
    let stderrTail = '';
    child.stdout?.on('data', (chunk: Buffer) => stdoutChunks.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => {
      stderrTail = (stderrTail + chunk.toString('utf8')).slice(-MAX_KEPT_STDERR_BYTES);
    });
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('error', (error) => {
      if (timer) clearTimeout(timer);
      rmSync(scratch, { recursive: true, force: true });
      reject(new BenchCommandError(command, `cannot start ${GNU_TIME}: ${error.message}`, error));
    });
    child.on('close', (exitCode, signal) => {
      const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (timer) clearTimeout(timer);
      let peakRssBytes = Number.NaN;
      try {
        // GNU time writes "Command exited with non-zero status N" before the format line on failure.
        const lines = readFileSync(timeFile, 'utf8').trim().split('\n');
        const fields = lines[lines.length - 1].trim().split(/\s+/);
        peakRssBytes = Number(fields[1]) * KIB_BYTES;
      } catch {
        // Killed before GNU time could write: leave NaN, the caller sees the exit status.
      }
      rmSync(scratch, { recursive: true, force: true });
      resolve({
        command,
        wallSeconds,
        peakRssBytes,
        exitCode,
        signal,
        stdout: Buffer.concat(stdoutChunks).toString('utf8'),
        stderr: stderrTail,
      });
    });
  });
}

/** Like runTimed, but rejects unless the command exited with status 0. */
export async function runTimedOk(command: string[], options: TimedOptions = {}): Promise<TimedResult> {
  const result = await runTimed(command, options);
  if (result.exitCode !== 0) {
    const status = result.signal ? `signal ${result.signal}` : `exit status ${result.exitCode}`;
    const lastLine = result.stderr.trim().split('\n').slice(-1)[0] ?? '';
    throw new BenchCommandError(command, `${status}${lastLine ? `: ${lastLine}` : ''}`);
  }
  return result;
}
