import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLoopbackHost } from '../../src/util/ip-address.js';
import { type MeshCredentials, makeMeshCredentials } from '../helpers/mesh-credentials.js';
import { requireBuiltCli } from '../helpers/repo-paths.js';
import { freeUdpPort } from '../membership/free-udp-port.js';

/**
 * Secure by default, through the real CLI: an agent refuses plaintext gRPC and unauthenticated gossip on
 * addresses reachable off this host unless given TLS and a key (or --insecure), in one line naming the
 * fix; a client refuses a plaintext query to a non-loopback agent before sending anything. Nothing here
 * sends a packet anywhere: refused agents never open a socket, and started ones have no seeds.
 */

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the CLI; with `untilStarted`, waits for the agent's "started" line, then stops it with SIGTERM. */
function run(args: string[], untilStarted = false, timeoutMs = 15_000): Promise<Run> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [requireBuiltCli(), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let stopping = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (untilStarted && !stopping && stdout.includes('"event":"started"')) {
        stopping = true;
        child.kill('SIGTERM');
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}

let directory = '';
let credentials: MeshCredentials;
beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'sniffmesh-secure-'));
  credentials = await makeMeshCredentials(directory, ['m1']);
});
afterAll(() => rmSync(directory, { recursive: true, force: true }));

async function agentArgs(gossipHost: string, grpcHost: string, extra: string[] = []): Promise<string[]> {
  const port = await freeUdpPort();
  return [
    'agent',
    '--no-capture',
    '--events-json',
    '--timing',
    'local',
    '--name',
    'm1',
    '--gossip',
    `${gossipHost}:${port}`,
    '--grpc',
    `${grpcHost}:0`,
    ...extra,
  ];
}

describe('isLoopbackHost', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.255.0.9', true],
    ['::1', true],
    ['[::1]', true],
    ['::ffff:127.0.0.1', true],
    ['localhost', true],
    ['0.0.0.0', false],
    ['::', false],
    ['10.0.0.1', false],
    ['128.0.0.1', false],
    ['::2', false],
    ['localhost.example', false],
    ['my-host', false],
  ])('%s -> %s', (host, loopback) => expect(isLoopbackHost(host)).toBe(loopback));
});

describe('an agent on addresses reachable off this host', () => {
  it('refuses plaintext gRPC (the default 0.0.0.0) in one line naming the fix, before binding anything', async () => {
    const result = await run(['agent', '--no-capture', '--name', 'm1']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^sniffmesh: refusing plaintext gRPC on 0\.0\.0\.0, reachable off this host: give --tls-ca\/--tls-cert\/--tls-key .*or --insecure$/,
      ),
    ]);
    expect(result.stdout).toBe('');
  });

  it('refuses unauthenticated gossip on a wildcard address even with TLS on gRPC', async () => {
    const tlsOnly = credentials.agentArgs('m1').slice(0, 6);
    const result = await run(await agentArgs('0.0.0.0', '127.0.0.1', tlsOnly));
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^sniffmesh: refusing unauthenticated gossip on 0\.0\.0\.0.*--gossip-key-file FILE.*or --insecure$/,
      ),
    ]);
  });

  it('starts with TLS and a gossip key, and says so', async () => {
    const result = await run(await agentArgs('0.0.0.0', '0.0.0.0', credentials.agentArgs('m1')), true);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/gossip authenticated, queries over mutual TLS/);
  });

  it('starts with --insecure, and says that gossip and queries are open', async () => {
    const result = await run(await agentArgs('0.0.0.0', '0.0.0.0', ['--insecure']), true);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/gossip NOT authenticated .*queries in plaintext/);
  });

  it('starts on loopback with neither (the demo, the tests)', async () => {
    const result = await run(await agentArgs('127.0.0.1', '127.0.0.1'), true);
    expect(result.code).toBe(0);
  });

  it('refuses a member certificate that names another member than --name', async () => {
    const result = await run(
      (await agentArgs('127.0.0.1', '127.0.0.1', credentials.agentArgs('m1'))).map((arg) =>
        arg === 'm1' ? 'm2' : arg,
      ),
    );
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toMatch(/--name m2: the --tls-cert names member m1/);
  });

  it('refuses a read-only client certificate as its own', async () => {
    const client = credentials.clientArgs();
    const result = await run(
      await agentArgs('127.0.0.1', '127.0.0.1', [...client, '--gossip-key-file', credentials.gossipKeyFile]),
    );
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toMatch(/is a client certificate; this needs a member certificate/);
  });
});

describe('a client asking an agent off this host', () => {
  it('refuses plaintext before connecting, in one line naming the fix', async () => {
    // 192.0.2.1 is TEST-NET-1: nothing is sent to it (the refusal comes first, and fast).
    const result = await run(['members', '--node', '192.0.2.1:7948']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^sniffmesh: refusing a plaintext query to 192\.0\.2\.1, off this host: give --tls-ca.*--client\), or --insecure$/,
      ),
    ]);
  });
});
