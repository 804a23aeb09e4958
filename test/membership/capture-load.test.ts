import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AgentProcess } from '../../cluster/local/agent-process.js';
import { localConfig, suspicionTimeoutMs } from '../../src/membership/membership-config.js';
import { createVethNamespacePair, deleteAllNamespaces, isRoot } from '../helpers/netns.js';
import { waitUntil } from './membership-contract.js';

const FLOOD_SECONDS = 8;
/**
 * The agents run the local preset. A probe sent at the flood's last moment becomes a suspicion at most
 * (probe timeout + indirect timeout) x (1 + localHealthMax) later, and a suspicion becomes a verdict
 * suspicionTimeoutMs(3 members) after that: 450 x 9 + 1500 = 5550 ms. Watching that long after the
 * flood sees every verdict the flood could cause (a negative property needs a window).
 */
const LOCAL = localConfig();
const VERDICT_WINDOW_MS =
  (LOCAL.probeTimeoutMs + LOCAL.indirectProbeTimeoutMs) * (1 + LOCAL.localHealthMax) +
  suspicionTimeoutMs(LOCAL, 3);

/**
 * Gossip must not starve while a member captures at full rate: capture runs in its own process (cap
 * cannot share the agent's event loop), so the agent's gossip keeps answering probes. Three agents in
 * one namespace, gossiping on its loopback with the fast `local` timing (200 ms probe timeout); one of
 * them captures on the veth while trafgen floods it from the other namespace as fast as it can. No
 * member may be declared failed; the capturing one must have counted the flood.
 */
describe.runIf(isRoot())('gossip while a member captures a flood', () => {
  afterAll(() => deleteAllNamespaces());

  it('no member is declared failed while one captures a full-rate trafgen flood', async () => {
    const pair = createVethNamespacePair();
    const mac = execFileSync(
      'ip',
      ['netns', 'exec', pair.receiverNamespace, 'cat', `/sys/class/net/${pair.receiverInterface}/address`],
      {
        encoding: 'utf8',
      },
    ).trim();
    const directory = mkdtempSync(path.join(tmpdir(), 'sniffmesh-flood-'));
    const config = path.join(directory, 'flood.cfg');
    // One UDP frame to the receiver, source port varying so the flow table works too.
    writeFileSync(
      config,
      `{ eth(da=${mac}), ipv4(saddr=${pair.senderAddress}, daddr=${pair.receiverAddress}), udp(sp=drnd(), dp=9), fill(0x5a, 64) }\n`,
    );
    const agents = [0, 1, 2].map(
      (index) =>
        new AgentProcess({
          name: `c${index}`,
          gossip: `127.0.0.1:${7960 + index}`,
          seeds: index === 0 ? [] : ['127.0.0.1:7960'],
          namespace: pair.receiverNamespace,
          extraArgs: index === 0 ? ['--capture', '-i', pair.receiverInterface] : [],
        }),
    );
    try {
      await waitUntil(
        () => agents.every((agent) => agent.aliveCount() === 3),
        20_000,
        'three agents see three alive',
      );
      const flood = spawn(
        'ip',
        [
          'netns',
          'exec',
          pair.senderNamespace,
          'trafgen',
          '--dev',
          pair.senderInterface,
          '--conf',
          config,
          '--cpus',
          '1',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let floodErrors = '';
      flood.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        floodErrors += chunk;
      });
      // 'exit', not 'close': trafgen's forked sender may hold stderr open a little longer.
      const floodEnded = new Promise<void>((resolve) => flood.on('exit', () => resolve()));
      await new Promise((resolve) => setTimeout(resolve, FLOOD_SECONDS * 1000));
      expect(flood.exitCode, `trafgen stopped early: ${floodErrors}`).toBeNull();
      flood.kill('SIGINT');
      const forceStop = setTimeout(() => flood.kill('SIGKILL'), 3000);
      await floodEnded;
      clearTimeout(forceStop);
      // Every suspicion raised during the flood has run to its verdict after this window.
      await new Promise((resolve) => setTimeout(resolve, VERDICT_WINDOW_MS));
      for (const agent of agents) {
        const failures = agent.events.filter((event) => event.event === 'failed');
        expect(failures.map((event) => event.member?.name)).toEqual([]);
        expect(agent.aliveCount()).toBe(3);
      }
      const capturing = agents[0] as AgentProcess;
      capturing.signal('SIGTERM');
      await capturing.exited;
      const stopped = capturing.events.at(-1) as unknown as { event: string; capture: { frames: number } };
      expect(stopped.event).toBe('stopped');
      expect(stopped.capture.frames).toBeGreaterThan(100_000 * FLOOD_SECONDS);
      const suspicions = agents.reduce(
        (sum, agent) => sum + agent.events.filter((event) => event.event === 'suspect').length,
        0,
      );
      console.log(
        `flood: ${stopped.capture.frames} frames captured in ${FLOOD_SECONDS}s; ${suspicions} suspect events, 0 failures`,
      );
    } finally {
      for (const agent of agents) agent.signal('SIGKILL');
      await Promise.all(agents.map((agent) => agent.exited));
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
