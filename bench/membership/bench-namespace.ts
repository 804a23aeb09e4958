/**
 * The one network namespace the membership benchmark runs in. All members of both implementations
 * talk over its own loopback, so iptables loss, partition and byte-counting rules apply to them and to
 * nothing else on the machine; deleting the namespace removes every rule with it.
 *
 * The name carries our pid (`smmember-<pid>`), so leftovers of a run that was killed with SIGKILL are
 * recognised and removed (their processes first) by the next run.
 */

import { execFileSync } from 'node:child_process';
import { SniffmeshError } from '../../src/util/errors.js';
import { spawnTracked, type TrackedChild } from './child-processes.js';

const NAMESPACE_PREFIX = 'smmember-';
/**
 * Outgoing connections take their source port from here, above every port the benchmark binds
 * (gossip 20000-29999, Serf RPC 30000-31999), so an ephemeral port never steals a member's port.
 */
export const EPHEMERAL_PORT_RANGE = '50000 60999';

export class BenchSetupError extends SniffmeshError {
  override name = 'BenchSetupError';
  constructor(message: string, cause?: unknown) {
    super('BENCH_SETUP_FAILED', message, { cause });
  }
}

function run(command: string, args: readonly string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new BenchSetupError(`${command} ${args.join(' ')}: ${stderr || (error as Error).message}`, error);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function killNamespaceProcesses(namespace: string): void {
  let pids: string[] = [];
  try {
    pids = run('ip', ['netns', 'pids', namespace]).split(/\s+/).filter(Boolean);
  } catch {
    return;
  }
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
}

export class BenchNamespace {
  readonly name: string;
  private deleted = false;

  private constructor(name: string) {
    this.name = name;
  }

  /** Creates the namespace with loopback up; removes stale namespaces of killed earlier runs first. */
  static create(): BenchNamespace {
    removeStaleNamespaces();
    const namespace = new BenchNamespace(`${NAMESPACE_PREFIX}${process.pid}`);
    try {
      run('ip', ['netns', 'add', namespace.name]);
      run('ip', ['-n', namespace.name, 'link', 'set', 'lo', 'up']);
      namespace.exec('sysctl', ['-qw', `net.ipv4.ip_local_port_range=${EPHEMERAL_PORT_RANGE}`]);
    } catch (error) {
      namespace.destroy();
      throw new BenchSetupError(
        `cannot create network namespace ${namespace.name} (needs root and iproute2): ${(error as Error).message}`,
        error,
      );
    }
    return namespace;
  }

  /** Runs a short command inside the namespace and returns its stdout. */
  exec(command: string, args: readonly string[]): string {
    return run('ip', ['netns', 'exec', this.name, command, ...args]);
  }

  /**
   * Starts a long-running command inside the namespace, optionally as another uid/gid (the partition
   * scenario tells the two halves apart by owner). `ip netns exec` and `setpriv` both exec, so the
   * tracked pid is the command's own.
   */
  spawn(command: string, args: readonly string[], uid?: number): TrackedChild {
    const prefix = ['netns', 'exec', this.name];
    if (uid !== undefined)
      prefix.push('setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--inh-caps=-all');
    return spawnTracked('ip', [...prefix, command, ...args]);
  }

  /** Kills whatever still runs inside and deletes the namespace (and with it all its iptables rules). */
  destroy(): void {
    if (this.deleted) return;
    this.deleted = true;
    killNamespaceProcesses(this.name);
    try {
      run('ip', ['netns', 'del', this.name]);
    } catch {
      // Never created or already gone.
    }
  }
}

/** Deletes namespaces (and kills their processes) left by earlier runs whose pid is gone. */
export function removeStaleNamespaces(): string[] {
  const removed: string[] = [];
  let listing = '';
  try {
    listing = run('ip', ['netns', 'list']);
  } catch {
    return removed;
  }
  for (const line of listing.split('\n')) {
    const name = line.trim().split(/\s+/)[0] ?? '';
    const match = /^smmember-(\d+)$/.exec(name);
    if (!match || processAlive(Number(match[1]))) continue;
    killNamespaceProcesses(name);
    try {
      run('ip', ['netns', 'del', name]);
      removed.push(name);
    } catch {
      // Removed by someone else meanwhile.
    }
  }
  return removed;
}
