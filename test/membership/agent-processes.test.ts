import { afterEach, describe, expect, it } from 'vitest';
import { AgentProcess } from '../../cluster/local/agent-process.js';
import { freeUdpPort } from './free-udp-port.js';
import { waitUntil } from './membership-contract.js';

/** Members as separate `sniffmesh agent` processes on loopback (local timing). */
describe('sniffmesh agent processes on loopback', () => {
  const agents: AgentProcess[] = [];
  afterEach(async () => {
    for (const agent of agents) agent.signal('SIGKILL');
    await Promise.all(agents.map((agent) => agent.exited));
    agents.length = 0;
  });

  async function startCluster(count: number): Promise<{ agents: AgentProcess[]; ports: number[] }> {
    const base = await freeUdpPort();
    const ports = Array.from({ length: count }, (_, index) => base + index);
    const started = ports.map(
      (port, index) =>
        new AgentProcess({
          name: `p${index}`,
          gossip: `127.0.0.1:${port}`,
          seeds: index === 0 ? [] : [`127.0.0.1:${base}`],
        }),
    );
    agents.push(...started);
    await waitUntil(
      () => started.every((agent) => agent.aliveCount() === count),
      20_000,
      `${count} agent processes see ${count} alive`,
    );
    return { agents: started, ports };
  }

  it('six processes converge; kill -9 of one is seen as failed by all survivors; SIGTERM of another as left', async () => {
    const { agents: cluster } = await startCluster(6);
    const victim = cluster[4] as AgentProcess;
    const killedAt = Date.now();
    victim.signal('SIGKILL');
    const survivors = cluster.filter((agent) => agent !== victim);
    await waitUntil(
      () => survivors.every((agent) => agent.view.get('p4') === 'failed'),
      15_000,
      'all survivors see p4 failed',
    );
    const detectionMs = Date.now() - killedAt;
    const leaver = cluster[5] as AgentProcess;
    const leftAt = Date.now();
    leaver.signal('SIGTERM');
    const rest = survivors.filter((agent) => agent !== leaver);
    await waitUntil(() => rest.every((agent) => agent.view.get('p5') === 'left'), 1500, 'all see p5 left');
    const leaveMs = Date.now() - leftAt;
    const exit = await leaver.exited;
    expect(exit.code).toBe(0);
    expect(leaver.events.at(-1)?.event).toBe('stopped');
    for (const agent of rest) {
      expect(agent.view.get('p4')).toBe('failed');
      expect(agent.aliveCount()).toBe(4);
    }
    // For the record (the benchmark measures these properly).
    console.log(
      `kill -9 seen by all survivors after ${detectionMs} ms; leave seen by all after ${leaveMs} ms`,
    );
  });

  it('a process restarted on the same address after kill -9 rejoins with a new id and is alive everywhere', async () => {
    const { agents: cluster, ports } = await startCluster(4);
    const victim = cluster[2] as AgentProcess;
    const oldId = victim.events.find((event) => event.event === 'started') as unknown as {
      self: { id: string };
    };
    victim.signal('SIGKILL');
    await victim.exited;
    const others = cluster.filter((agent) => agent !== victim);
    await waitUntil(
      () => others.every((agent) => agent.view.get('p2') === 'failed'),
      15_000,
      'p2 failed everywhere',
    );
    const restarted = new AgentProcess({
      name: 'p2',
      gossip: `127.0.0.1:${ports[2]}`,
      seeds: [`127.0.0.1:${ports[0]}`],
    });
    agents.push(restarted);
    const restartedAt = Date.now();
    await waitUntil(
      () => others.every((agent) => agent.view.get('p2') === 'alive') && restarted.aliveCount() === 4,
      5000,
      'the restarted p2 is alive everywhere and sees everyone',
    );
    const rejoined = others[0]?.events.filter(
      (event) => event.event === 'joined' && event.member?.name === 'p2',
    );
    expect(rejoined).toHaveLength(2);
    expect(rejoined?.[1]?.member?.id).not.toBe(oldId.self.id);
    console.log(`restarted member alive everywhere after ${Date.now() - restartedAt} ms`);
  });

  it('bad flags and a bad key are one clear line and exit code 2, not a stack trace', async () => {
    for (const [extra, message] of [
      [['--gossip', 'nonsense'], /--gossip: 'nonsense' is not host:port/],
      [['--seeds', '127.0.0.1:99999'], /--seeds: port 99999 is out of range/],
      [['--gossip-key', 'c2hvcnQ='], /--gossip-key: the key is 5 bytes, expected 32/],
      [['--gossip-key-file', '/nonexistent/keys'], /cannot read gossip key file \/nonexistent\/keys/],
    ] as const) {
      const agent = new AgentProcess({ name: 'bad', gossip: '127.0.0.1:1', extraArgs: [...extra] });
      const exit = await agent.exited;
      expect(exit.code).toBe(2);
      expect(agent.stderr).toMatch(message);
      expect(agent.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
