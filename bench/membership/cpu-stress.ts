/**
 * Saturates every CPU with stress-ng for the "CPU saturated" scenarios. Two workers per core (the
 * research run used 8 on 2 cores) so the members compete with runnable load on every core, not just
 * fill idle time. stress-ng runs outside the namespace (CPU load has no network side) and is killed
 * with its whole process group.
 */

import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { BenchSetupError } from './bench-namespace.js';
import { signalGroup, spawnTracked, type TrackedChild } from './child-processes.js';

const STRESS_NG = '/usr/bin/stress-ng';
export const STRESS_WORKERS_PER_CORE = 2;

export class CpuStress {
  private constructor(private readonly child: TrackedChild) {}

  static workerCount(): number {
    return availableParallelism() * STRESS_WORKERS_PER_CORE;
  }

  static start(): CpuStress {
    if (!existsSync(STRESS_NG)) throw new BenchSetupError(`${STRESS_NG} is missing (install stress-ng)`);
    const child = spawnTracked(STRESS_NG, ['--cpu', String(CpuStress.workerCount()), '--quiet']);
    return new CpuStress(child);
  }

  async stop(): Promise<void> {
    signalGroup(this.child, 'SIGKILL');
    await this.child.exited;
  }
}
