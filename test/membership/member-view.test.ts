import { describe, expect, it, vi } from 'vitest';
import type { MemberInfo, MemberState, MembershipEventType } from '../../src/membership/member.js';
import type { WireMetadata } from '../../src/membership/member-metadata.js';
import { MemberTable, memberInfoFromRecord, transitionEvents } from '../../src/membership/member-view.js';
import type { SwimRecord, SwimStateCode } from '../../src/membership/swim-wire.js';

function member(state: MemberState, overrides: Partial<MemberInfo> = {}): MemberInfo {
  return {
    id: 'node-a-5f3c',
    name: 'alpha',
    grpc: '127.0.0.1:7950',
    version: '0.1.0',
    captureInterface: 'lo',
    captureFilter: '',
    networks: [],
    startedAtMs: 1_700_000_000_000,
    gossip: '127.0.0.1:7946',
    state,
    incarnation: 1,
    local: false,
    ...overrides,
  };
}

describe('transitionEvents', () => {
  const table: ReadonlyArray<
    [before: MemberState | undefined, after: MemberState, events: MembershipEventType[]]
  > = [
    [undefined, 'alive', ['joined']],
    [undefined, 'suspect', ['joined', 'suspect']],
    [undefined, 'failed', []],
    [undefined, 'left', []],
    ['alive', 'alive', []],
    ['alive', 'suspect', ['suspect']],
    ['alive', 'failed', ['failed']],
    ['alive', 'left', ['left']],
    ['suspect', 'alive', ['recovered']],
    ['suspect', 'suspect', []],
    ['suspect', 'failed', ['failed']],
    ['suspect', 'left', ['left']],
    ['failed', 'alive', ['recovered']],
    ['failed', 'suspect', ['recovered', 'suspect']],
    ['failed', 'left', ['left']],
    ['failed', 'failed', []],
    ['left', 'left', []],
  ];
  for (const [before, after, events] of table) {
    const described = events.length === 0 ? 'nothing' : events.join(' + ');
    it(`reports ${described} for ${before ?? 'unseen'} -> ${after}`, () => {
      const previous = before === undefined ? undefined : member(before);
      expect(transitionEvents(previous, member(after, { incarnation: 2 }))).toEqual(events);
    });
  }

  for (const beforeState of ['alive', 'suspect', 'failed', 'left'] as const) {
    it(`reports a new id at the same address as joined (old record ${beforeState})`, () => {
      const before = member(beforeState);
      const restarted = member('alive', {
        id: 'node-a-9e01',
        incarnation: 0,
        startedAtMs: 1_700_000_500_000,
      });
      expect(transitionEvents(before, restarted)).toEqual(['joined']);
    });
  }

  it('reports a new id that is already failed as nothing', () => {
    expect(transitionEvents(member('alive'), member('failed', { id: 'other' }))).toEqual([]);
  });

  const metadataChanges: ReadonlyArray<[field: string, change: Partial<MemberInfo>]> = [
    ['name', { name: 'beta' }],
    ['gRPC address', { grpc: '127.0.0.1:7951' }],
    ['version', { version: '0.2.0' }],
    ['capture interface', { captureInterface: 'eth0' }],
    ['capture filter', { captureFilter: 'udp' }],
    ['networks', { networks: ['10.0.0.0/8'] }],
  ];
  for (const [field, change] of metadataChanges) {
    it(`reports updated when the ${field} changes`, () => {
      expect(transitionEvents(member('alive'), member('alive', { ...change, incarnation: 2 }))).toEqual([
        'updated',
      ]);
    });
  }

  it('reports the state change before updated when both change', () => {
    expect(transitionEvents(member('suspect'), member('alive', { name: 'beta', incarnation: 2 }))).toEqual([
      'recovered',
      'updated',
    ]);
  });

  it('reports nothing when only the incarnation changes', () => {
    expect(transitionEvents(member('alive'), member('alive', { incarnation: 9 }))).toEqual([]);
  });
});

const WIRE_META: WireMetadata = {
  i: 'node-b-77aa',
  n: 'bravo',
  g: '[::1]:7950',
  v: '0.1.0',
  c: 'file:trace.pcap',
  f: 'tcp',
  s: 1_700_000_000_123,
  a: ['192.0.2.7', '2001:db8::/32'],
};

function record(state: SwimStateCode, meta: WireMetadata = WIRE_META): SwimRecord {
  return { host: '[::1]:7946', state, incarnation: 4, meta };
}

describe('memberInfoFromRecord', () => {
  it('maps every wire field to its MemberInfo field', () => {
    expect(memberInfoFromRecord(record(0), true)).toEqual({
      id: 'node-b-77aa',
      name: 'bravo',
      grpc: '[::1]:7950',
      version: '0.1.0',
      captureInterface: 'file:trace.pcap',
      captureFilter: 'tcp',
      networks: ['192.0.2.7', '2001:db8::/32'],
      startedAtMs: 1_700_000_000_123,
      gossip: '[::1]:7946',
      state: 'alive',
      incarnation: 4,
      local: true,
    });
  });

  const table: ReadonlyArray<[state: SwimStateCode, leftAtMs: number | undefined, expected: MemberState]> = [
    [0, undefined, 'alive'],
    [1, undefined, 'suspect'],
    [2, undefined, 'failed'],
    [2, 1_700_000_009_000, 'left'],
    [2, 0, 'left'],
  ];
  for (const [state, leftAtMs, expected] of table) {
    it(`maps swim state ${state} ${leftAtMs === undefined ? 'without' : 'with'} meta.l to '${expected}'`, () => {
      const meta = leftAtMs === undefined ? WIRE_META : { ...WIRE_META, l: leftAtMs };
      const info = memberInfoFromRecord(record(state, meta), false);
      expect(info.state).toBe(expected);
      expect(info.local).toBe(false);
    });
  }

  it('does not copy the leave time or other wire keys into MemberInfo', () => {
    const info = memberInfoFromRecord(record(2, { ...WIRE_META, l: 5 }), false);
    expect(Object.keys(info).sort()).toEqual(
      [
        'captureFilter',
        'captureInterface',
        'gossip',
        'networks',
        'grpc',
        'id',
        'incarnation',
        'local',
        'name',
        'startedAtMs',
        'state',
        'version',
      ].sort(),
    );
  });
});

describe('MemberTable', () => {
  const at = (host: string, state: SwimStateCode, incarnation: number, meta: WireMetadata = WIRE_META) => ({
    host,
    state,
    incarnation,
    meta,
  });

  function tableWithLog() {
    const table = new MemberTable();
    const log: string[] = [];
    table.onEvent((event) => log.push(`${event.type} ${event.member.gossip} ${event.member.state}`));
    return { table, log };
  }

  it('lists the local member and tells listeners each change of the others once', () => {
    const { table, log } = tableWithLog();
    table.observe(at('10.0.0.1:7946', 0, 1, { ...WIRE_META, i: 'self' }), true);
    table.observe(at('10.0.0.2:7946', 0, 1), false);
    table.observe(at('10.0.0.2:7946', 0, 1), false);
    table.observe(at('10.0.0.2:7946', 1, 1), false);
    table.observe(at('10.0.0.2:7946', 0, 2), false);
    table.observe(at('10.0.0.2:7946', 0, 3, { ...WIRE_META, c: 'eth1' }), false);
    table.observe(at('10.0.0.2:7946', 2, 3, { ...WIRE_META, c: 'eth1' }), false);
    expect(log).toEqual([
      'joined 10.0.0.1:7946 alive',
      'joined 10.0.0.2:7946 alive',
      'suspect 10.0.0.2:7946 suspect',
      'recovered 10.0.0.2:7946 alive',
      'updated 10.0.0.2:7946 alive',
      'failed 10.0.0.2:7946 failed',
    ]);
    expect(table.members().map((info) => [info.gossip, info.state, info.local])).toEqual([
      ['10.0.0.1:7946', 'alive', true],
      ['10.0.0.2:7946', 'failed', false],
    ]);
    expect(table.get('10.0.0.2:7946')?.incarnation).toBe(3);
  });

  it('keeps the newest record without an event when only the incarnation changed', () => {
    const { table, log } = tableWithLog();
    table.observe(at('10.0.0.2:7946', 0, 1), false);
    table.observe(at('10.0.0.2:7946', 0, 7), false);
    expect(log).toEqual(['joined 10.0.0.2:7946 alive']);
    expect(table.get('10.0.0.2:7946')?.incarnation).toBe(7);
  });

  it('ignores a failed or left record of a member never seen, but never the local member', () => {
    const { table, log } = tableWithLog();
    table.observe(at('10.0.0.3:7946', 2, 1), false);
    table.observe(at('10.0.0.4:7946', 2, 1, { ...WIRE_META, l: 5 }), false);
    expect(table.members()).toEqual([]);
    table.observe(at('10.0.0.1:7946', 2, 1), true);
    expect(table.members()).toHaveLength(1);
    expect(log).toEqual([]);
  });

  it('reaps failed and left members after the given time (counted from the change), never alive or local ones', () => {
    const { table } = tableWithLog();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(1_000_000);
    try {
      table.observe(at('10.0.0.1:7946', 2, 1), true);
      table.observe(at('10.0.0.2:7946', 0, 1), false);
      table.observe(at('10.0.0.3:7946', 0, 1), false);
      table.observe(at('10.0.0.4:7946', 0, 1), false);
      table.observe(at('10.0.0.3:7946', 2, 1), false);
      vi.setSystemTime(1_000_500);
      table.observe(at('10.0.0.4:7946', 2, 2, { ...WIRE_META, l: Date.now() }), false);
      // A later record in the same state does not restart the clock.
      table.observe(at('10.0.0.3:7946', 2, 2), false);
    } finally {
      vi.useRealTimers();
    }
    expect(table.reap(1_000_999, 1000)).toEqual([]);
    expect(table.reap(1_001_000, 1000)).toEqual(['10.0.0.3:7946']);
    expect(table.reap(1_001_500, 1000)).toEqual(['10.0.0.4:7946']);
    expect(table.members().map((info) => info.gossip)).toEqual(['10.0.0.1:7946', '10.0.0.2:7946']);
  });

  it('a listener that throws neither stops the others nor the table; unsubscribed ones hear nothing', () => {
    const table = new MemberTable();
    const heard: string[] = [];
    table.onEvent(() => {
      throw new Error('listener bug');
    });
    const unsubscribe = table.onEvent(() => heard.push('gone'));
    table.onEvent((event) => heard.push(event.type));
    unsubscribe();
    table.observe(at('10.0.0.2:7946', 0, 1), false);
    expect(heard).toEqual(['joined']);
    expect(table.members()).toHaveLength(1);
  });
});
