/**
 * The built CLI run as a separate process (optionally inside a network namespace), and what a test reads
 * about a running agent from /proc: its capture child and its memory.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { requireBuiltCli } from '../helpers/repo-paths.js';

export interface CliRun {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

/** Runs `sniffmesh ARGS` (inside `namespace` when given) to completion, killed after `timeoutMs`. */
export function runCli(args: readonly string[], options: { namespace?: string; timeoutMs?: number } = {}) {
  const command = [process.execPath, requireBuiltCli(), ...args];
  const child =
    options.namespace === undefined
      ? spawn(command[0] as string, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('ip', ['netns', 'exec', options.namespace, ...command], { stdio: ['ignore', 'pipe', 'pipe'] });
  const started = Date.now();
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 15_000);
  return new Promise<CliRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (exitCode) => {
      clearTimeout(timer);
      resolve({ exitCode, stdout, stderr, elapsedMs: Date.now() - started });
    });
  });
}

/** The pids of a process's children (/proc/PID/task/TID/children, every thread). */
export function childPids(pid: number): number[] {
  const found: number[] = [];
  const tasks = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8');
  for (const text of tasks.split(/\s+/)) if (text !== '') found.push(Number(text));
  return found;
}

/** Resident memory of a process in bytes (VmRSS). */
export function residentBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match === null) throw new Error(`/proc/${pid}/status has no VmRSS`);
  return Number(match[1]) * 1024;
}

/** Resident memory by kind (RssAnon: the process's own heap and stacks; RssFile: mapped files and rings). */
export function residentParts(pid: number): { anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string): number =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? NaN);
  return { anon: kib('RssAnon') * 1024, file: kib('RssFile') * 1024 };
}

/** The first 'started' event's self.grpc of an agent's --events-json output. */
export function grpcAddressOf(events: readonly { event: string }[]): string | undefined {
  const started = events.find((event) => event.event === 'started') as
    | { self?: { grpc?: string } }
    | undefined;
  return started?.self?.grpc;
}
