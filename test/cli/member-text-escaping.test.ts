import { describe, expect, it } from 'vitest';
import { nodeProblemLine, topAnswerJson, topAnswerTable } from '../../src/cli/cluster-top-output.js';
import { eventLine, memberJson, membersTable } from '../../src/cli/members-command.js';
import {
  Grouping,
  type Member,
  MemberState,
  MembershipEventType,
  Metric,
  NodeStatus,
  type TopTalkersResponse,
} from '../../src/query/generated/sniffmesh.js';
import { terminalJson } from '../../src/util/terminal-text.js';

/**
 * What a member sent reaches the terminal escaped (src/util/terminal-text.ts): a forged or hostile
 * record must not clear the screen, retitle the window or forge lines. JSON output stays JSON, the text
 * exactly as received.
 */
const ESC = '\u001b';
const CLEAR = `${ESC}[2J${ESC}[H`;
/** Any C0 control but the newlines the table itself uses, DEL, or a C1 control. */
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

function hostile(): Member {
  return {
    id: '0123456789abcdef',
    name: `evil${CLEAR}`,
    gossip: '10.0.0.9:7947',
    grpc: `10.0.0.9:7948${ESC}]0;owned\u0007`,
    version: `1.0${ESC}[31m`,
    captureInterface: `eth0\r`,
    captureFilter: `port 80\u009b2J`,
    startedAtMs: 0,
    state: MemberState.MEMBER_STATE_ALIVE,
    incarnation: 5,
    local: false,
    networks: [],
  };
}

describe('member text on the terminal', () => {
  it('the members table shows every field a member sent with visible escapes, and no control character', () => {
    const table = membersTable({ members: [hostile()] }, Date.now());
    expect(table).not.toMatch(CONTROL);
    expect(table).toContain('evil\\x1b[2J\\x1b[H');
    expect(table).toContain('10.0.0.9:7948\\x1b]0;owned\\x07');
    expect(table).toContain('1.0\\x1b[31m');
    expect(table).toContain("eth0\\r 'port 80\\x9b2J'");
  });

  it('a members --watch event line too', () => {
    const line = eventLine({
      type: MembershipEventType.MEMBERSHIP_EVENT_TYPE_JOINED,
      timeMs: 1,
      member: { ...hostile(), gossip: `10.0.0.9:1\n2026-01-01T00:00:00.000Z  left  web1` },
    });
    expect(line).not.toMatch(CONTROL);
    expect(line.split('\n')).toHaveLength(1);
    expect(line).toContain('evil\\x1b[2J\\x1b[H');
  });

  it('members --json stays JSON that parses to the text as received, with no raw control character', () => {
    const json = terminalJson(memberJson(hostile()));
    expect(json).not.toMatch(CONTROL);
    expect(JSON.parse(json).name).toBe(`evil${CLEAR}`);
    expect(JSON.parse(json).captureFilter).toBe('port 80\u009b2J');
  });

  it("top's node status lines and inexact reasons escape node names, addresses and errors", () => {
    const response: TopTalkersResponse = {
      group: Grouping.GROUPING_HOST,
      by: Metric.METRIC_BYTES,
      rows: [],
      nodes: [
        {
          name: `b${CLEAR}`,
          address: `10.0.0.2:7948${ESC}[K`,
          status: NodeStatus.NODE_STATUS_FAILED,
          error: `peer said: ${ESC}[2Jgone\rOK`,
          latencyMs: 1,
          code: 14,
          windowComplete: false,
          windowToSecond: 0,
        },
        {
          name: `c${ESC}[1A`,
          address: '',
          status: NodeStatus.NODE_STATUS_OK,
          error: '',
          latencyMs: 1,
          code: 0,
          windowComplete: false,
          windowToSecond: 0,
        },
      ],
      exact: false,
      windowFromSecond: 0,
      windowToSecond: 1_700_000_000,
      rowsTransferred: 0,
      bytesTransferred: 0,
      totals: { packets: 0, bytes: 0, ipPackets: 0, ipBytes: 0 },
      undecoded: [],
      evictedPackets: 0,
      evictedBytes: 0,
      windowSeconds: 60,
      windowComplete: false,
      missingNodes: [`b${CLEAR}`],
      queryId: 'q',
      groups: 0,
      elapsedMs: 1,
    };
    const answer = topAnswerJson(response, 'cluster');
    const table = topAnswerTable(answer, 'top');
    expect(table).not.toMatch(CONTROL);
    expect(nodeProblemLine(answer.nodes[0] as (typeof answer.nodes)[number])).toBe(
      'node b\\x1b[2J\\x1b[H (10.0.0.2:7948\\x1b[K): failed — peer said: \\x1b[2Jgone\\rOK',
    );
    expect(table).toContain('data missing from b\\x1b[2J\\x1b[H');
    expect(table).toContain('c\\x1b[1A');
    // JSON of top keeps the names as sent.
    expect(JSON.parse(JSON.stringify(answer)).nodes[0].name).toBe(`b${CLEAR}`);
  });
});
