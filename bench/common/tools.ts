/** Whether the peer tools a benchmark compares with are installed. */

import { execFileSync } from 'node:child_process';

/** True when `name` is found on PATH (as the shell would run it). */
export function commandExists(name: string): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v "$1"', 'sh', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
