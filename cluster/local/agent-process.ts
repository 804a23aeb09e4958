import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built CLI (dist/src/cli/main.js); this file builds to dist/cluster/local/agent-process.js. */
function builtCliPath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [
    path.resolve(here, '..', '..', 'src', 'cli', 'main.js'),
    path.resolve(here, '..', '..', 'dist', 'src', 'cli', 'main.js'),
  ];
  const found = candidates.find((candidate) => existsSync(candidate));
  if (found === undefined) throw new Error(`the CLI is not built (${candidates[1]}): run 'npm run build'`);
  return found;
}

/** The host part of HOST:PORT or [V6]:PORT, kept in the form the CLI parses. */
function gossipHost(address: string): string {
  return address.slice(0, address.lastIndexOf(':'));
}

export interface AgentEventLine {
  event: string;
  timeMs: number;
  member?: {
    name: string;
    gossip: string;
    state: string;
    id: string;
    incarnation: number;
    captureInterface: string;
  };
}

/** One local agent process for tests, the demo and the benchmark helpers. */
export interface AgentSpec {
  name: string;
  gossip: string;
  seeds?: string[];
  /** Run inside this network namespace (`ip netns exec`). */
  namespace?: string;
  extraArgs?: string[];
  /** Extra environment (e.g. SNIFFMESH_GOSSIP_KEY). */
  env?: Record<string, string>;
}

/**
 * One `sniffmesh agent --events-json` process. Its view of the cluster is the replay of the events it
 * printed: joined/recovered = alive, then suspect, failed or left.
 */
export class AgentProcess {
  readonly events: AgentEventLine[] = [];
  readonly view = new Map<string, string>();
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;
  private buffered = '';

  constructor(readonly spec: AgentSpec) {
    const args = [
      builtCliPath(),
      'agent',
      ...(spec.extraArgs?.includes('--capture') ? [] : ['--no-capture']),
      '--events-json',
      '--timing',
      'local',
      '--gossip',
      spec.gossip,
      '--name',
      spec.name,
      ...(spec.seeds && spec.seeds.length > 0 ? ['--seeds', spec.seeds.join(',')] : []),
      // Several agents share one host here: unless the caller chose a gRPC address, each takes an
      // ephemeral port on its gossip host (the default 0.0.0.0:7948 would collide from the second on).
      ...(spec.extraArgs?.includes('--grpc') ? [] : ['--grpc', `${gossipHost(spec.gossip)}:0`]),
      ...(spec.extraArgs ?? []).filter((arg) => arg !== '--capture'),
    ];
    this.child =
      spec.namespace === undefined
        ? spawn(process.execPath, args, {
            stdio: ['ignore', 'pipe', 'pipe'],
            env: { ...process.env, ...spec.env },
          })
        : spawn('ip', ['netns', 'exec', spec.namespace, process.execPath, ...args], {
            stdio: ['ignore', 'pipe', 'pipe'],
            env: { ...process.env, ...spec.env },
          });
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => this.consume(chunk));
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) =>
      this.child.on('close', (code, signal) => resolve({ code, signal })),
    );
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  aliveCount(): number {
    let count = 0;
    for (const state of this.view.values()) if (state === 'alive') count++;
    return count;
  }

  private consume(chunk: string): void {
    this.buffered += chunk;
    let newline = this.buffered.indexOf('\n');
    while (newline >= 0) {
      const line = this.buffered.slice(0, newline);
      this.buffered = this.buffered.slice(newline + 1);
      newline = this.buffered.indexOf('\n');
      if (line.trim() === '') continue;
      const event = JSON.parse(line) as AgentEventLine;
      this.events.push(event);
      if (event.member !== undefined) {
        const state =
          event.event === 'joined' || event.event === 'recovered'
            ? 'alive'
            : event.event === 'updated'
              ? (this.view.get(event.member.name) ?? event.member.state)
              : event.member.state;
        this.view.set(event.member.name, state);
      }
    }
  }
}
