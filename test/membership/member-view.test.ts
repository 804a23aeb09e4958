import { describe, expect, it } from 'vitest';
import type { MemberInfo, MemberState, MembershipEventType } from '../../src/membership/member.js';
import type { WireMetadata } from '../../src/membership/member-metadata.js';
import { memberInfoFromRecord, transitionEvents } from '../../src/membership/member-view.js';
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
