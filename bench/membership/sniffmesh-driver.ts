/**
 * Runs sniffmesh agents without capture (`agent --no-capture --events-json --timing lan`), each with
 * its own gRPC port (`--grpc HOST:0`: the agent binds an ephemeral port and advertises the one it got;
 * the default 0.0.0.0:7948 would make every member after the first fail with EADDRINUSE), and learns
 * each agent's view from the membership events it prints on stdout, one JSON object per line:
 * `{"event":"started","timeMs":..,"self":{..}}`, then
 * `{"event":"joined|suspect|failed|recovered|left|updated","timeMs":..,"member":{"name":..,"state":..,"incarnation":..}}`.
 * The agent stamps each event itself, so pipe delays do not enter the figures.
 */

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from '../capture/peer-commands.js';
import { BenchSetupError } from './bench-namespace.js';
import { signalChild, signalGroup } from './child-processes.js';
import type {
  MemberDriver,
  MemberObserver,
  MemberSpec,
  MemberState,
  RunningMember,
} from './member-driver.js';

const OUTPUT_TAIL_LINES = 30;

const EVENT_STATES: Record<string, MemberState | undefined> = {
  joined: 'alive',
  recovered: 'alive',
  suspect: 'suspect',
  failed: 'failed',
  left: 'left',
};
const KNOWN_STATES = new Set<string>(['alive', 'suspect', 'failed', 'left']);

interface AgentEvent {
  event?: string;
  timeMs?: number;
  self?: { name?: string };
  member?: { name?: string; state?: string; incarnation?: number };
}

export class SniffmeshDriver implements MemberDriver {
  readonly id = 'sniffmesh' as const;
  private readonly command: string[];
  private readonly extraArgs: readonly string[];

  /** `extraArgs` are appended to every agent's command line (e.g. a gossip key file). */
  constructor(extraArgs: readonly string[] = []) {
    this.command = [process.execPath, path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js')];
    this.extraArgs = extraArgs;
  }

  describe(): string {
    return `sniffmesh agent --timing lan${this.extraArgs.length ? ` ${this.extraArgs.join(' ')}` : ''} (node ${process.version})`;
  }

  checkAvailable(): void {
    const [node, main] = this.command;
    if (!existsSync(main)) throw new BenchSetupError(`${main} is missing: run 'npm run build' first`);
    let help = '';
    try {
      help = execFileSync(node, [main, 'agent', '--help'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (error) {
      throw new BenchSetupError(`'sniffmesh agent --help' fails: the agent command is not built yet`, error);
    }
    if (!help.includes('--events-json'))
      throw new BenchSetupError(
        `'sniffmesh agent --help' does not list --events-json, which the benchmark needs`,
      );
  }

  start(
    namespace: Parameters<MemberDriver['start']>[0],
    spec: MemberSpec,
    seeds: readonly MemberSpec[],
    observer: MemberObserver,
  ): RunningMember {
    const [node, main] = this.command;
    const args = [
      main,
      'agent',
      '--no-capture',
      '--gossip',
      `${spec.host}:${spec.gossipPort}`,
      '--name',
      spec.name,
      '--timing',
      'lan',
      '--grpc',
      `${spec.host}:0`,
      '--events-json',
      ...this.extraArgs,
    ];
    const seedList = seeds.filter((seed) => seed.name !== spec.name);
    if (seedList.length > 0)
      args.push('--seeds', seedList.map((seed) => `${seed.host}:${seed.gossipPort}`).join(','));
    const child = namespace.spawn(node, args, spec.uid);
    const tail: string[] = [];
    const lines = createInterface({ input: child.process.stdout! });
    lines.on('line', (line) => {
      tail.push(line);
      if (tail.length > OUTPUT_TAIL_LINES) tail.shift();
      let event: AgentEvent;
      try {
        event = JSON.parse(line) as AgentEvent;
      } catch {
        return; // Not an event line.
      }
      const timeMs = event.timeMs;
      if (typeof timeMs !== 'number') return;
      if (event.event === 'started') {
        observer.up(spec.name, timeMs);
        observer.change({ observer: spec.name, subject: spec.name, state: 'alive', timeMs });
        return;
      }
      const member = event.member;
      if (!member?.name || !event.event) return;
      if (event.event === 'suspect') {
        observer.suspicion({
          observer: spec.name,
          subject: member.name,
          timeMs,
          key: `${member.name}#${member.incarnation ?? '?'}`,
        });
      }
      const state =
        EVENT_STATES[event.event] ??
        (member.state && KNOWN_STATES.has(member.state) ? (member.state as MemberState) : undefined);
      if (state) observer.change({ observer: spec.name, subject: member.name, state, timeMs });
    });
    return {
      spec,
      leave: () => signalChild(child, 'SIGTERM'),
      crash: () => signalGroup(child, 'SIGKILL'),
      hasExited: () => child.hasExited(),
      exited: child.exited,
      outputTail: () => [...tail, child.stderrTail()].join('\n').trim(),
    };
  }
}
