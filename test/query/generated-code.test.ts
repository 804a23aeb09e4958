import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { credentials, Server, ServerCredentials } from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import {
  PHASE_ABOVE_THRESHOLD,
  PHASE_EXACT,
  PHASE_LOCAL_TOP,
} from '../../src/node/agent/local-query-engine.js';
import {
  GROUPING_MODE,
  GROUPINGS,
  groupingOfCode,
  METRIC_CODE,
  METRICS,
  metricOfCode,
} from '../../src/node/flows/key-vocabulary.js';
import {
  Grouping,
  MemberState,
  MembersResponse,
  MergePhase,
  Metric,
  SniffmeshClient,
  SniffmeshService,
  type StatsResponse,
} from '../../src/query/generated/sniffmesh.js';
import { REPO_ROOT } from '../helpers/repo-paths.js';

describe('the generated gRPC code', () => {
  const scratch = mkdtempSync(path.join(tmpdir(), 'sniffmesh-proto-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('is what `npm run proto` generates from proto/ now (regenerate when this fails)', () => {
    execFileSync('bash', [path.join(REPO_ROOT, 'scripts', 'generate-proto.sh'), scratch], { cwd: REPO_ROOT });
    const fresh = readFileSync(path.join(scratch, 'sniffmesh.ts'), 'utf8');
    const committed = readFileSync(path.join(REPO_ROOT, 'src', 'query', 'generated', 'sniffmesh.ts'), 'utf8');
    expect(committed === fresh, 'src/query/generated/sniffmesh.ts is stale: run `npm run proto`').toBe(true);
  });

  it('round-trips messages through protobuf bytes, 64-bit counters included', () => {
    const response = MembersResponse.fromPartial({
      members: [
        {
          id: 'ab',
          name: 'n1',
          gossip: '127.0.0.1:7947',
          state: MemberState.MEMBER_STATE_LEFT,
          incarnation: 1_795_000_000_123,
        },
      ],
    });
    const decoded = MembersResponse.decode(MembersResponse.encode(response).finish());
    expect(decoded).toEqual(response);
    expect(decoded.members[0]?.incarnation).toBe(1_795_000_000_123);
  });

  it('serves and calls a unary RPC over @grpc/grpc-js on loopback', async () => {
    const server = new Server();
    const stats: StatsResponse = {
      name: 'n1',
      version: 'test',
      uptimeSeconds: 1.5,
      captureInterface: 'eth0',
      captureFilter: '',
      packets: 10,
      bytes: 1000,
      kernelDrops: 0,
      undecoded: [{ reason: 'not-ip', packets: 2 }],
      flows: 3,
      evictedFlows: 0,
    };
    server.addService(SniffmeshService, {
      stats: (_call: unknown, callback: (error: null, value: StatsResponse) => void) => callback(null, stats),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    const client = new SniffmeshClient(`127.0.0.1:${port}`, credentials.createInsecure());
    try {
      const answer = await new Promise<StatsResponse>((resolve, reject) =>
        client.stats({}, (error, value) => (error ? reject(error) : resolve(value))),
      );
      expect(answer).toEqual(stats);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});

describe('the key vocabulary and the wire', () => {
  it('names every wire Grouping and Metric value with the vocabulary code of the same number', () => {
    const groupings = Object.entries(Grouping).filter(([, v]) => typeof v === 'number' && v > 0);
    expect(groupings.map(([name, code]) => [name, groupingOfCode(code as number)])).toEqual(
      GROUPINGS.map((g) => [`GROUPING_${g.toUpperCase()}`, g]),
    );
    for (const g of GROUPINGS)
      expect(GROUPING_MODE[g]).toBe(Grouping[`GROUPING_${g.toUpperCase()}` as keyof typeof Grouping]);
    expect(groupingOfCode(Grouping.GROUPING_UNSPECIFIED)).toBe('host');
    expect(groupingOfCode(99)).toBeUndefined();
    for (const m of METRICS)
      expect(METRIC_CODE[m]).toBe(Metric[`METRIC_${m.toUpperCase()}` as keyof typeof Metric]);
    expect(metricOfCode(Metric.METRIC_UNSPECIFIED)).toBe('bytes');
    expect(metricOfCode(3)).toBeUndefined();
  });

  it('has the node merge phases at the wire MergePhase values', () => {
    expect([PHASE_LOCAL_TOP, PHASE_ABOVE_THRESHOLD, PHASE_EXACT]).toEqual([
      MergePhase.MERGE_PHASE_LOCAL_TOP,
      MergePhase.MERGE_PHASE_ABOVE_THRESHOLD,
      MergePhase.MERGE_PHASE_EXACT,
    ]);
  });
});
