import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AgentProcess } from '../../cluster/local/agent-process.js';
import { makeMeshCredentials } from '../helpers/mesh-credentials.js';
import { createVethNamespacePair, deleteAllNamespaces, isRoot } from '../helpers/netns.js';
import { waitUntil } from './membership-contract.js';

/**
 * A partition and its heal, for real: two network namespaces joined by a veth link, three agent
 * processes in each. The link goes down (each side must declare the other failed), then up again
 * (the reconnect loop must bring back one membership; swim alone never heals).
 */
describe.runIf(isRoot())('a partition between two network namespaces', () => {
  const agents: AgentProcess[] = [];
  afterEach(async () => {
    for (const agent of agents) agent.signal('SIGKILL');
    await Promise.all(agents.map((agent) => agent.exited));
    agents.length = 0;
  });
  const directories: string[] = [];
  afterAll(() => {
    deleteAllNamespaces();
    for (const directory of directories) rmSync(directory, { recursive: true, force: true });
  });

  it('splits into two memberships when the link is cut, and is one again after it is restored', async () => {
    // Off loopback, an agent needs TLS and a gossip key (or --insecure): the lab uses them, as a host would.
    const directory = mkdtempSync(join(tmpdir(), 'sniffmesh-partition-'));
    directories.push(directory);
    const credentials = await makeMeshCredentials(directory, ['a0', 'a1', 'a2', 'b0', 'b1', 'b2']);
    const pair = createVethNamespacePair();
    const port = 7950;
    const sideA = [0, 1, 2].map(
      (index) =>
        new AgentProcess({
          name: `a${index}`,
          gossip: `${pair.senderAddress}:${port + index}`,
          seeds: index === 0 ? [] : [`${pair.senderAddress}:${port}`],
          namespace: pair.senderNamespace,
          extraArgs: credentials.agentArgs(`a${index}`),
        }),
    );
    const sideB = [0, 1, 2].map(
      (index) =>
        new AgentProcess({
          name: `b${index}`,
          gossip: `${pair.receiverAddress}:${port + index}`,
          seeds: [`${pair.senderAddress}:${port}`],
          namespace: pair.receiverNamespace,
          extraArgs: credentials.agentArgs(`b${index}`),
        }),
    );
    const all = [...sideA, ...sideB];
    agents.push(...all);
    await waitUntil(() => all.every((agent) => agent.aliveCount() === 6), 20_000, 'six agents see six alive');

    execFileSync('ip', ['-n', pair.senderNamespace, 'link', 'set', pair.senderInterface, 'down']);
    const cutAt = Date.now();
    const otherSideFailed = (agent: AgentProcess, others: AgentProcess[]) =>
      others.every((other) => agent.view.get(other.spec.name) === 'failed');
    await waitUntil(
      () =>
        sideA.every((agent) => otherSideFailed(agent, sideB)) &&
        sideB.every((agent) => otherSideFailed(agent, sideA)),
      30_000,
      'each side declares the other failed',
    );
    const splitMs = Date.now() - cutAt;
    for (const agent of all) expect(agent.aliveCount()).toBe(3);

    execFileSync('ip', ['-n', pair.senderNamespace, 'link', 'set', pair.senderInterface, 'up']);
    const healedAt = Date.now();
    await waitUntil(
      () => all.every((agent) => agent.aliveCount() === 6),
      30_000,
      'one membership of six again',
    );
    const healMs = Date.now() - healedAt;
    for (const agent of all) {
      expect([...agent.view.values()].filter((state) => state !== 'alive')).toEqual([]);
    }
    console.log(
      `split seen by all after ${splitMs} ms; one membership again ${healMs} ms after the link came back`,
    );
  });
});
