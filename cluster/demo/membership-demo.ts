/**
 * The mesh part of the demo: five `sniffmesh agent` processes on loopback form a cluster through one
 * seed (authenticated gossip, a fresh key), then one is killed with SIGKILL, one leaves with SIGTERM and
 * the killed one is restarted on its old address. Prints what every member sees and how long each step
 * took. Usage: node dist/cluster/demo/membership-demo.js [--members N] [--json]
 */
import { createSocket } from 'node:dgram';
import { generateGossipKey } from '../../src/membership/gossip-keyring.js';
import { AgentProcess } from '../local/agent-process.js';
import { waitUntil } from '../local/wait-until.js';

/** How long any one step may take before the demo gives up. */
const STEP_TIMEOUT_MS = 30_000;

interface StepResult {
  step: string;
  ms: number;
}

async function freePortBase(count: number): Promise<number> {
  // A free port with `count` ports above it that are free too (checked by binding each).
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    const sockets = [];
    let ok = true;
    for (let offset = 0; offset < count && ok; offset++) {
      const socket = createSocket('udp4');
      ok = await new Promise<boolean>((resolve) => {
        socket.once('error', () => resolve(false));
        socket.bind(base + offset, '127.0.0.1', () => resolve(true));
      });
      sockets.push(socket);
    }
    for (const socket of sockets) socket.close();
    if (ok) return base;
  }
  throw new Error('no free range of UDP ports on 127.0.0.1');
}

function viewTable(agents: AgentProcess[]): string {
  const names = agents.map((agent) => agent.spec.name);
  const header = ['seen by →', ...names].map((cell) => cell.padEnd(9)).join(' ');
  const rows = names.map((name) =>
    [name, ...agents.map((agent) => (agent.spec.name === name ? 'self' : (agent.view.get(name) ?? '-')))]
      .map((cell) => cell.padEnd(9))
      .join(' '),
  );
  return [header, ...rows].join('\n');
}

async function main(): Promise<void> {
  const json = process.argv.includes('--json');
  const membersFlag = process.argv.indexOf('--members');
  const count = membersFlag > 0 ? Number(process.argv[membersFlag + 1]) : 5;
  if (!Number.isInteger(count) || count < 3 || count > 50) throw new Error('--members must be 3..50');
  const say = (text: string) => {
    if (!json) process.stdout.write(`${text}\n`);
  };
  const base = await freePortBase(count);
  const key = generateGossipKey();
  const start = (index: number) =>
    new AgentProcess({
      name: `node${index}`,
      gossip: `127.0.0.1:${base + index}`,
      seeds: index === 0 ? [] : [`127.0.0.1:${base}`],
      env: { SNIFFMESH_GOSSIP_KEY: key },
    });
  const agents = Array.from({ length: count }, (_, index) => start(index));
  const steps: StepResult[] = [];
  const everyone = () => agents;
  try {
    say(
      `== ${count} agents on 127.0.0.1:${base}..${base + count - 1}, authenticated gossip, joining through node0`,
    );
    steps.push({
      step: `${count} members converge`,
      ms: await waitUntil(
        () => everyone().every((agent) => agent.aliveCount() === count),
        STEP_TIMEOUT_MS,
        'all members see all',
      ),
    });
    say(viewTable(agents));
    say(`converged in ${steps.at(-1)?.ms} ms (from process start)\n`);

    const victimIndex = count - 1;
    say(`== kill -9 node${victimIndex}`);
    const victim = agents[victimIndex] as AgentProcess;
    victim.signal('SIGKILL');
    await victim.exited;
    const survivors = agents.filter((agent) => agent !== victim);
    steps.push({
      step: `kill -9 seen as failed by all ${survivors.length} survivors`,
      ms: await waitUntil(
        () => survivors.every((agent) => agent.view.get(victim.spec.name) === 'failed'),
        STEP_TIMEOUT_MS,
        'the survivors see the failure',
      ),
    });
    say(`all survivors saw node${victimIndex} failed after ${steps.at(-1)?.ms} ms\n`);

    const leaverIndex = count - 2;
    const leaver = agents[leaverIndex] as AgentProcess;
    say(`== SIGTERM node${leaverIndex} (graceful leave)`);
    leaver.signal('SIGTERM');
    const rest = survivors.filter((agent) => agent !== leaver);
    steps.push({
      step: `graceful leave seen as left by all ${rest.length} others`,
      ms: await waitUntil(
        () => rest.every((agent) => agent.view.get(leaver.spec.name) === 'left'),
        STEP_TIMEOUT_MS,
        'all see the leave',
      ),
    });
    say(`all others saw node${leaverIndex} left after ${steps.at(-1)?.ms} ms\n`);

    say(`== restart node${victimIndex} on its old address`);
    const reborn = start(victimIndex);
    agents[victimIndex] = reborn;
    steps.push({
      step: 'restarted member alive everywhere',
      ms: await waitUntil(
        () =>
          rest.every((agent) => agent.view.get(reborn.spec.name) === 'alive') &&
          reborn.aliveCount() === count - 1,
        STEP_TIMEOUT_MS,
        'the restarted member is back',
      ),
    });
    say(viewTable(agents.filter((agent) => agent !== leaver)));
    say(`node${victimIndex} was back everywhere after ${steps.at(-1)?.ms} ms`);
    if (json) process.stdout.write(`${JSON.stringify({ members: count, steps })}\n`);
  } finally {
    for (const agent of agents) agent.signal('SIGTERM');
    await Promise.all(agents.map((agent) => agent.exited));
  }
}

main().catch((error: Error) => {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
});
