import http2 from 'node:http2';
import { Metadata } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_QUERY_CONFIG } from '../../src/query/query-config.js';
import { type QueryNode, startQueryNode } from '../helpers/query-node.js';
import { recentStore } from '../helpers/twin-stores.js';

/**
 * The HTTP/2 stream bound of one connection (QueryConfig.maxStreamsPerConnection) against a real node's
 * server on loopback: announced in the server's SETTINGS, harmless to an honest client (its calls beyond
 * it queue in grpc-js and all answer), and streams held open without a request do not stop other
 * connections being served.
 */

const CALL_DEADLINE_MS = 5000;

let node: QueryNode;
beforeAll(async () => {
  const store = recentStore();
  node = await startQueryNode(store);
});
afterAll(async () => {
  await node.stop();
});

function members(): Promise<number> {
  return new Promise((resolve) =>
    node.client.members({}, new Metadata(), { deadline: Date.now() + CALL_DEADLINE_MS }, (error) =>
      resolve(error?.code ?? 0),
    ),
  );
}

describe('streams per connection', () => {
  it('announces the bound in its HTTP/2 SETTINGS', async () => {
    const session = http2.connect(`http://${node.server.address}`);
    try {
      const settings = await new Promise<http2.Settings>((resolve) =>
        session.once('remoteSettings', resolve),
      );
      expect(settings.maxConcurrentStreams).toBe(DEFAULT_QUERY_CONFIG.maxStreamsPerConnection);
    } finally {
      session.destroy();
    }
  });

  it('serves other connections while one holds every stream open without sending a request', async () => {
    const session = http2.connect(`http://${node.server.address}`);
    session.on('error', () => {});
    try {
      for (let i = 0; i < DEFAULT_QUERY_CONFIG.maxStreamsPerConnection + 10; i++) {
        const stream = session.request(
          {
            ':method': 'POST',
            ':path': '/sniffmesh.v1.Sniffmesh/Members',
            'content-type': 'application/grpc',
            te: 'trailers',
          },
          { endStream: false },
        );
        stream.on('error', () => {});
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      const started = performance.now();
      expect(await members()).toBe(0);
      expect(performance.now() - started).toBeLessThan(1500);
    } finally {
      session.destroy();
    }
  });

  it('an honest client with more calls in flight than the bound gets every answer (grpc-js queues them)', async () => {
    const codes = await Promise.all(
      Array.from({ length: DEFAULT_QUERY_CONFIG.maxStreamsPerConnection * 3 }, () => members()),
    );
    expect(new Set(codes)).toEqual(new Set([0]));
  });
});
