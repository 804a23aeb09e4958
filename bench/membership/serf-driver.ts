/**
 * Runs HashiCorp Serf agents (Debian package `serf`, LAN profile: probe every 1 s, gossip every
 * 200 ms, push/pull every 30 s) and learns each agent's view from its log on stdout.
 *
 * Why the log and not an event handler or polling: the agent coalesces member events for its
 * handlers (1 s quiet period, up to 3 s), so an `-event-handler` script sees a join 1-3 s late; polling
 * `serf members` at 10 Hz costs 600 process starts a second at N=60 on 2 cores. The log line
 * `serf: EventMemberJoin: n3 ...` is written when Serf applies the change, before coalescing, and Go
 * writes stdout unbuffered, so its arrival time here is the change time to well under 100 ms.
 * memberlist also logs each probe that ends in suspicion ("Suspect n3 has failed, no acks received");
 * suspicions it only hears about by gossip are not logged at INFO.
 */

import { execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { BenchSetupError } from './bench-namespace.js';
import { signalChild, signalGroup } from './child-processes.js';
import {
  type MemberDriver,
  type MemberObserver,
  type MemberSpec,
  type MemberState,
  preciseNowMs,
  type RunningMember,
} from './member-driver.js';

const SERF_BINARY = '/usr/bin/serf';
const LOG_TAIL_LINES = 30;

const MEMBER_EVENT = /serf: EventMember(Join|Leave|Failed|Reap): (\S+)/;
const SUSPECT_PROBE = /memberlist: Suspect (\S+) has failed/;
const AGENT_RUNNING = /==> Serf agent running!/;

const EVENT_STATES: Record<string, MemberState | 'removed'> = {
  Join: 'alive',
  Leave: 'left',
  Failed: 'failed',
  Reap: 'removed',
};

export class SerfDriver implements MemberDriver {
  readonly id = 'serf' as const;

  /**
   * @param extraAgentArgs flags appended to every `serf agent` command line, e.g. the query benchmark's
   *   `-event-handler=query:ping=echo pong` (the membership benchmark passes none).
   */
  constructor(private readonly extraAgentArgs: readonly string[] = []) {}

  describe(): string {
    let version = 'serf (version unknown)';
    try {
      version = execFileSync(SERF_BINARY, ['version'], { encoding: 'utf8' }).split('\n')[0].trim();
    } catch {
      // Reported by checkAvailable.
    }
    return `${version}, profile lan (probe 1 s, gossip 200 ms, suspicion mult 4, push/pull 30 s)`;
  }

  checkAvailable(): void {
    try {
      execFileSync(SERF_BINARY, ['version'], { stdio: 'ignore' });
    } catch (error) {
      throw new BenchSetupError(`${SERF_BINARY} does not run (install the Debian package 'serf')`, error);
    }
  }

  start(
    namespace: Parameters<MemberDriver['start']>[0],
    spec: MemberSpec,
    seeds: readonly MemberSpec[],
    observer: MemberObserver,
  ): RunningMember {
    const args = [
      'agent',
      `-bind=${spec.host}:${spec.gossipPort}`,
      `-rpc-addr=${spec.host}:${spec.rpcPort}`,
      `-node=${spec.name}`,
      '-profile=lan',
      '-log-level=info',
      ...this.extraAgentArgs,
    ];
    for (const seed of seeds) if (seed.name !== spec.name) args.push(`-join=${seed.host}:${seed.gossipPort}`);
    const child = namespace.spawn(SERF_BINARY, args, spec.uid);
    const tail: string[] = [];
    let probeFailures = 0;
    const lines = createInterface({ input: child.process.stdout! });
    lines.on('line', (line) => {
      const timeMs = preciseNowMs();
      tail.push(line);
      if (tail.length > LOG_TAIL_LINES) tail.shift();
      const event = MEMBER_EVENT.exec(line);
      if (event) {
        observer.change({ observer: spec.name, subject: event[2], state: EVENT_STATES[event[1]], timeMs });
        return;
      }
      const suspect = SUSPECT_PROBE.exec(line);
      if (suspect) {
        probeFailures++;
        observer.suspicion({
          observer: spec.name,
          subject: suspect[1],
          timeMs,
          key: `${spec.name}>${suspect[1]}#${probeFailures}`,
        });
        return;
      }
      if (AGENT_RUNNING.test(line)) observer.up(spec.name, timeMs);
    });
    return {
      spec,
      // SIGINT is Serf's graceful leave; its SIGTERM shuts down without leaving (leave_on_terminate=false).
      leave: () => signalChild(child, 'SIGINT'),
      crash: () => signalGroup(child, 'SIGKILL'),
      hasExited: () => child.hasExited(),
      exited: child.exited,
      outputTail: () => [...tail, child.stderrTail()].join('\n').trim(),
    };
  }
}
