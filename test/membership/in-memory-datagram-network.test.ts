import { describe, expect, it } from 'vitest';
import { GossipBindError } from '../../src/membership/datagram-transport.js';
import { EnvelopeTransport } from '../../src/membership/envelope-transport.js';
import { generateGossipKey, makeGossipKeyring, parseGossipKey } from '../../src/membership/gossip-keyring.js';
import {
  InMemoryDatagramNetwork,
  type InMemoryDatagramNetworkOptions,
} from '../../src/membership/in-memory-datagram-network.js';
import { MAX_INBOUND_DATAGRAM_BYTES } from '../../src/membership/membership-config.js';
import { waitUntil } from './membership-contract.js';

interface Received {
  readonly text: string;
  readonly from: string;
}

/** An endpoint bound on `network`, with everything it receives recorded. */
async function endpoint(network: InMemoryDatagramNetwork, address: string) {
  const [host, port] = address.split(':');
  const transport = network.transport({ host: host as string, port: Number(port) });
  const received: Received[] = [];
  const bound = await transport.start((datagram, from) => received.push({ text: datagram.toString(), from }));
  return { transport, received, address: `${bound.host}:${bound.port}` };
}

/** One turn of the event loop: everything sent with no delay has been delivered after it. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function lossPattern(options: InMemoryDatagramNetworkOptions, count: number): Promise<string> {
  const network = new InMemoryDatagramNetwork(options);
  const a = await endpoint(network, '10.0.0.1:1');
  const b = await endpoint(network, '10.0.0.2:1');
  for (let index = 0; index < count; index++) a.transport.send(Buffer.from(String(index)), b.address);
  await nextTurn();
  const got = new Set(b.received.map((item) => Number(item.text)));
  return Array.from({ length: count }, (_, index) => (got.has(index) ? '1' : '0')).join('');
}

describe('InMemoryDatagramNetwork', () => {
  it('delivers a copy of each datagram asynchronously, with the sender address as source', async () => {
    const network = new InMemoryDatagramNetwork();
    const a = await endpoint(network, '10.0.0.1:7946');
    const b = await endpoint(network, '10.0.0.2:7946');
    const buffer = Buffer.from('hello');
    a.transport.send(buffer, b.address);
    buffer.write('HELLO');
    expect(b.received).toEqual([]);
    await nextTurn();
    expect(b.received).toEqual([{ text: 'hello', from: '10.0.0.1:7946' }]);
    expect(a.transport.counters).toMatchObject({ datagramsSent: 1, bytesSent: 5, sendErrors: 0 });
    expect(b.transport.counters).toMatchObject({ datagramsReceived: 1, bytesReceived: 5 });
    expect(network.counters).toMatchObject({ sent: 1, delivered: 1, lost: 0 });
  });

  it('binds port 0 to a free port and refuses an address in use or a wildcard as GOSSIP_BIND errors', async () => {
    const network = new InMemoryDatagramNetwork();
    const first = await endpoint(network, '10.0.0.1:0');
    const second = await endpoint(network, '10.0.0.1:0');
    expect(first.address).not.toBe(second.address);
    expect(first.transport.localAddress?.port).toBeGreaterThan(0);
    const clash = network.transport({ host: '10.0.0.1', port: Number(first.address.split(':')[1]) });
    const error = await clash.start(() => {}).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(GossipBindError);
    expect(error).toMatchObject({ code: 'GOSSIP_BIND', cause: { code: 'EADDRINUSE' } });
    await expect(network.transport({ host: '0.0.0.0', port: 1 }).start(() => {})).rejects.toMatchObject({
      code: 'GOSSIP_BIND',
      cause: { code: 'EADDRNOTAVAIL' },
    });
    first.transport.close();
    await endpoint(network, first.address);
  });

  it('loses datagrams with the configured probability, reproducibly for one seed', async () => {
    const count = 2000;
    const one = await lossPattern({ lossProbability: 0.1, seed: 7 }, count);
    const again = await lossPattern({ lossProbability: 0.1, seed: 7 }, count);
    const other = await lossPattern({ lossProbability: 0.1, seed: 8 }, count);
    expect(again).toBe(one);
    expect(other).not.toBe(one);
    const lost = [...one].filter((bit) => bit === '0').length;
    // 10 % of 2000 = 200; the binomial standard deviation is 13.4, so 4 of them either side.
    expect(lost).toBeGreaterThan(146);
    expect(lost).toBeLessThan(254);
    expect(await lossPattern({ lossProbability: 0 }, 100)).toBe('1'.repeat(100));
    expect(await lossPattern({ lossProbability: 1 }, 100)).toBe('0'.repeat(100));
    expect(() => new InMemoryDatagramNetwork({ lossProbability: 1.5 })).toThrow(RangeError);
  });

  it('applies a link’s own conditions over the network’s, in one direction with oneWay', async () => {
    const network = new InMemoryDatagramNetwork({ lossProbability: 0 });
    const a = await endpoint(network, '10.0.0.1:1');
    const b = await endpoint(network, '10.0.0.2:1');
    const c = await endpoint(network, '10.0.0.3:1');
    network.setLink(a.address, b.address, { lossProbability: 1 }, true);
    a.transport.send(Buffer.from('a>b'), b.address);
    b.transport.send(Buffer.from('b>a'), a.address);
    a.transport.send(Buffer.from('a>c'), c.address);
    await nextTurn();
    expect(b.received).toEqual([]);
    expect(a.received.map((item) => item.text)).toEqual(['b>a']);
    expect(c.received.map((item) => item.text)).toEqual(['a>c']);
    expect(network.counters.lost).toBe(1);
  });

  it('delays datagrams by delayMs, and jitter reorders them', async () => {
    const network = new InMemoryDatagramNetwork({ delayMs: 40 });
    const a = await endpoint(network, '10.0.0.1:1');
    const b = await endpoint(network, '10.0.0.2:1');
    const sentAt = performance.now();
    a.transport.send(Buffer.from('late'), b.address);
    await nextTurn();
    expect(b.received).toEqual([]);
    const waitedMs = await waitUntil(() => b.received.length === 1, 2000, 'the delayed datagram arrives');
    // Node fires a timer no earlier than its delay, rounded to whole milliseconds.
    expect(performance.now() - sentAt).toBeGreaterThanOrEqual(39);
    expect(waitedMs).toBeLessThan(2000);

    network.setConditions({ delayMs: 0, jitterMs: 20 });
    for (let index = 0; index < 50; index++) a.transport.send(Buffer.from(String(index)), b.address);
    await waitUntil(() => b.received.length === 51, 2000, 'all jittered datagrams arrive');
    const order = b.received.slice(1).map((item) => Number(item.text));
    expect([...order].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, index) => index));
    expect(order).not.toEqual([...order].sort((x, y) => x - y));
  });

  it('partitions into groups (addresses in no group form one more), and heal joins them again', async () => {
    const network = new InMemoryDatagramNetwork();
    const [a, b, c, d] = await Promise.all(
      ['10.0.0.1:1', '10.0.0.2:1', '10.0.0.3:1', '10.0.0.4:1'].map((address) => endpoint(network, address)),
    );
    const all = [a, b, c, d] as Array<Awaited<ReturnType<typeof endpoint>>>;
    const everyoneToEveryone = async () => {
      for (const item of all) item.received.length = 0;
      for (const sender of all) {
        for (const receiver of all) {
          if (sender !== receiver) sender.transport.send(Buffer.from(sender.address), receiver.address);
        }
      }
      await nextTurn();
      return all.map((item) =>
        item.received
          .map((got) => got.from.slice(7, 8))
          .sort()
          .join(''),
      );
    };
    network.partition([[all[0]?.address ?? '', all[1]?.address ?? ''], [all[2]?.address ?? '']]);
    expect(await everyoneToEveryone()).toEqual(['2', '1', '', '']);
    expect(network.counters.partitioned).toBe(10);
    network.heal();
    expect(await everyoneToEveryone()).toEqual(['234', '134', '124', '123']);
  });

  it('cuts and restores single links, both ways or one way', async () => {
    const network = new InMemoryDatagramNetwork();
    const a = await endpoint(network, '10.0.0.1:1');
    const b = await endpoint(network, '10.0.0.2:1');
    const exchange = async () => {
      a.received.length = 0;
      b.received.length = 0;
      a.transport.send(Buffer.from('x'), b.address);
      b.transport.send(Buffer.from('y'), a.address);
      await nextTurn();
      return [b.received.length, a.received.length];
    };
    network.cut(a.address, b.address);
    expect(await exchange()).toEqual([0, 0]);
    network.restore(a.address, b.address, true);
    expect(await exchange()).toEqual([1, 0]);
    network.restore(b.address, a.address);
    expect(await exchange()).toEqual([1, 1]);
    network.cut(b.address, a.address, true);
    expect(await exchange()).toEqual([1, 0]);
    network.heal();
    expect(await exchange()).toEqual([1, 1]);
  });

  it('bounds what waits for one endpoint: beyond queueLimit datagrams are dropped and counted', async () => {
    const network = new InMemoryDatagramNetwork({ queueLimit: 10 });
    const a = await endpoint(network, '10.0.0.1:1');
    const b = await endpoint(network, '10.0.0.2:1');
    for (let index = 0; index < 15; index++) a.transport.send(Buffer.from(String(index)), b.address);
    await nextTurn();
    expect(b.received.map((item) => item.text)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(network.counters.queueOverflow).toBe(5);
    a.transport.send(Buffer.from('after'), b.address);
    await nextTurn();
    expect(b.received.at(-1)?.text).toBe('after');
  });

  it('drops and counts datagrams larger than the inbound limit at the receiver, as the UDP socket does', async () => {
    const network = new InMemoryDatagramNetwork();
    const a = await endpoint(network, '10.0.0.1:1');
    const b = await endpoint(network, '10.0.0.2:1');
    a.transport.send(Buffer.alloc(MAX_INBOUND_DATAGRAM_BYTES, 1), b.address);
    a.transport.send(Buffer.alloc(MAX_INBOUND_DATAGRAM_BYTES + 1, 2), b.address);
    await nextTurn();
    expect(b.received).toHaveLength(1);
    expect(b.transport.counters.dropped.oversized).toBe(1);
    expect(b.transport.counters.datagramsReceived).toBe(2);
  });

  it('drops datagrams above the path’s maxDatagramBytes in transit and counts them', async () => {
    const network = new InMemoryDatagramNetwork({ maxDatagramBytes: 1400 });
    const a = await endpoint(network, '10.0.0.1:1');
    const b = await endpoint(network, '10.0.0.2:1');
    a.transport.send(Buffer.alloc(1400, 1), b.address);
    a.transport.send(Buffer.alloc(1401, 2), b.address);
    await nextTurn();
    expect(b.received).toHaveLength(1);
    expect(network.counters).toMatchObject({ sent: 2, delivered: 1, oversized: 1 });
    expect(b.transport.counters.datagramsReceived).toBe(1);
  });

  it('counts sends from a closed endpoint or to a bad address as errors, and datagrams to nobody as unreachable', async () => {
    const network = new InMemoryDatagramNetwork();
    const a = await endpoint(network, '10.0.0.1:1');
    const b = await endpoint(network, '10.0.0.2:1');
    a.transport.send(Buffer.from('x'), 'not-an-address');
    a.transport.send(Buffer.from('x'), '10.0.0.9:1');
    a.transport.send(Buffer.from('in flight'), b.address);
    b.transport.close();
    b.transport.close();
    await nextTurn();
    expect(b.received).toEqual([]);
    expect(network.counters.unreachable).toBe(2);
    expect(network.addresses()).toEqual([a.address]);
    a.transport.close();
    a.transport.send(Buffer.from('x'), b.address);
    expect(a.transport.counters.sendErrors).toBe(2);
  });
});

describe('EnvelopeTransport over the in-memory network', () => {
  const keyring = makeGossipKeyring(parseGossipKey(generateGossipKey(), 'test'));

  async function sealed(network: InMemoryDatagramNetwork, address: string, key = keyring) {
    const [host, port] = address.split(':');
    const transport = new EnvelopeTransport(network.transport({ host: host as string, port: Number(port) }), {
      keyring: key,
      replayWindowMs: 60_000,
    });
    const received: Received[] = [];
    await transport.start((payload, from) => received.push({ text: payload.toString(), from }));
    return { transport, received, address };
  }

  it('keyed endpoints exchange payloads; a wrong key is dropped as unknown-key, an unkeyed sender as unauthenticated', async () => {
    const network = new InMemoryDatagramNetwork();
    const a = await sealed(network, '10.0.0.1:1');
    const b = await sealed(network, '10.0.0.2:1');
    const wrong = await sealed(
      network,
      '10.0.0.3:1',
      makeGossipKeyring(parseGossipKey(generateGossipKey(), 'x')),
    );
    const open = new EnvelopeTransport(network.transport({ host: '10.0.0.4', port: 1 }), {
      keyring: undefined,
      replayWindowMs: 60_000,
    });
    await open.start(() => {});
    a.transport.send(Buffer.from('payload'), b.address);
    wrong.transport.send(Buffer.from('forged'), b.address);
    open.send(Buffer.from('open'), b.address);
    await nextTurn();
    expect(b.received).toEqual([{ text: 'payload', from: a.address }]);
    expect(b.transport.counters.dropped).toMatchObject({ 'unknown-key': 1, unauthenticated: 1 });
    expect(b.transport.counters.datagramsReceived).toBe(3);
    // Sealed bytes are counted: header and tag on top of the 7-byte payload.
    expect(a.transport.counters.bytesSent).toBeGreaterThan(7 + 16);
  });

  it('reports every drop reason, the inner transport’s included, as the agent’s stopped event prints them', async () => {
    const network = new InMemoryDatagramNetwork();
    const a = await sealed(network, '10.0.0.1:1');
    expect(Object.keys(a.transport.counters.dropped).sort()).toEqual(
      [
        'bad-tag',
        'bad-version',
        'malformed',
        'oversized',
        'replayed',
        'stale',
        'truncated',
        'unauthenticated',
        'unexpected-tag',
        'unknown-key',
      ].sort(),
    );
    a.transport.countMalformed();
    expect(a.transport.counters.dropped.malformed).toBe(1);
  });

  it('a captured datagram replayed to a keyed endpoint is accepted once and then dropped as replayed', async () => {
    const network = new InMemoryDatagramNetwork();
    const a = await sealed(network, '10.0.0.1:1');
    const b = await sealed(network, '10.0.0.2:1');
    // The eavesdropper is a raw endpoint: it keeps the sealed datagram a sends it, then replays it to b.
    const captured: Buffer[] = [];
    const spy = network.transport({ host: '10.0.0.9', port: 1 });
    await spy.start((datagram) => captured.push(datagram));
    a.transport.send(Buffer.from('once'), '10.0.0.9:1');
    await nextTurn();
    expect(captured).toHaveLength(1);
    for (let copy = 0; copy < 3; copy++) spy.send(captured[0] as Buffer, b.address);
    await nextTurn();
    expect(b.received.map((item) => item.text)).toEqual(['once']);
    expect(b.transport.counters.dropped.replayed).toBe(2);
  });
});
