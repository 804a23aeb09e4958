import { describe, expect, it } from 'vitest';
import { topAnswerJson, topAnswerTable } from '../../src/cli/cluster-top-output.js';
import {
  Grouping,
  Metric,
  NodeStatus,
  type TopTalkersResponse,
} from '../../src/query/generated/sniffmesh.js';

/** How `top` says an answer is not exact when a node has not closed the window yet, or has no history. */

const TO = 1_700_000_059;

function response(nodes: TopTalkersResponse['nodes']): TopTalkersResponse {
  return {
    group: Grouping.GROUPING_HOST,
    by: Metric.METRIC_BYTES,
    rows: [{ key: '10.0.0.1', packets: 3, bytes: 300, flows: 1, forwardPackets: 2, forwardBytes: 200 }],
    nodes,
    exact: false,
    windowFromSecond: TO - 59,
    windowToSecond: TO,
    rowsTransferred: 1,
    bytesTransferred: 10,
    totals: { packets: 3, bytes: 300, ipPackets: 3, ipBytes: 300 },
    undecoded: [],
    evictedPackets: 0,
    evictedBytes: 0,
    windowSeconds: 60,
    windowComplete: false,
    missingNodes: [],
    queryId: 'q',
    groups: 0,
    elapsedMs: 1,
  };
}

function node(
  name: string,
  windowComplete: boolean,
  windowToSecond: number,
): TopTalkersResponse['nodes'][number] {
  return {
    name,
    address: '',
    status: NodeStatus.NODE_STATUS_OK,
    error: '',
    latencyMs: 1,
    code: 0,
    windowComplete,
    windowToSecond,
  };
}

describe('top output for partly covered windows', () => {
  it('names a node behind the window and one whose history is short, each with its reason', () => {
    const answer = topAnswerJson(
      response([node('a', true, TO), node('b', false, TO - 2), node('c', false, TO)]),
      'cluster',
    );
    expect(answer.nodes.map((n) => [n.name, n.windowComplete, n.windowTo])).toEqual([
      ['a', true, TO],
      ['b', false, TO - 2],
      ['c', false, TO],
    ]);
    const exactLine = topAnswerTable(answer, 'title')
      .split('\n')
      .find((line) => line.startsWith('exact: '));
    expect(exactLine).toBe(
      'exact: no (not closed yet on b (read up to 2023-11-14 22:14:17 UTC: clock behind?); ' +
        'history does not cover the whole window on c)',
    );
  });
});
