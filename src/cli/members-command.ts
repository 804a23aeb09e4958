import type { Command } from 'commander';
import {
  type Member,
  MemberState,
  type MembershipEvent,
  MembershipEventType,
  type MembersResponse,
} from '../query/generated/sniffmesh.js';
import { SniffmeshError } from '../util/errors.js';
import { terminalJson, terminalText } from '../util/terminal-text.js';
import { formatDuration, renderTable } from './format.js';
import { interruptOnSignal } from './interrupt-signal.js';
import { addNodeOption, type NodeOptionValues, withNodeClient } from './node-option.js';

const STATE_NAMES: Record<number, MemberJson['state']> = {
  [MemberState.MEMBER_STATE_ALIVE]: 'alive',
  [MemberState.MEMBER_STATE_SUSPECT]: 'suspect',
  [MemberState.MEMBER_STATE_FAILED]: 'failed',
  [MemberState.MEMBER_STATE_LEFT]: 'left',
};

const EVENT_NAMES: Record<number, string> = {
  [MembershipEventType.MEMBERSHIP_EVENT_TYPE_JOINED]: 'joined',
  [MembershipEventType.MEMBERSHIP_EVENT_TYPE_SUSPECT]: 'suspect',
  [MembershipEventType.MEMBERSHIP_EVENT_TYPE_FAILED]: 'failed',
  [MembershipEventType.MEMBERSHIP_EVENT_TYPE_RECOVERED]: 'recovered',
  [MembershipEventType.MEMBERSHIP_EVENT_TYPE_LEFT]: 'left',
  [MembershipEventType.MEMBERSHIP_EVENT_TYPE_UPDATED]: 'updated',
};

/** One member as `members --json` prints it. */
export interface MemberJson {
  name: string;
  id: string;
  gossip: string;
  grpc: string;
  /** 'unknown' only when the agent sends a state this version does not know. */
  state: 'alive' | 'suspect' | 'failed' | 'left' | 'unknown';
  version: string;
  captureInterface: string;
  captureFilter: string;
  startedAtMs: number;
  incarnation: number;
  local: boolean;
  /** Networks whose traffic the member counts as its own (the counting rule of cluster queries). */
  networks: string[];
}

interface MembersOptionValues extends NodeOptionValues {
  watch?: boolean;
  json?: boolean;
}

/** `sniffmesh members`: the membership as one agent sees it; --watch follows every change. */
export function registerMembersCommand(program: Command, output: { out: (text: string) => void }): void {
  const command = program
    .command('members')
    .description('the cluster members as one agent sees them (--watch: then every membership event)');
  addNodeOption(command);
  command
    .option('--watch', 'after the list, print every membership event until Ctrl-C')
    .option('--json', 'one JSON object (with --watch: one per line)');
  command.action(async (values: MembersOptionValues) => {
    const json = values.json === true;
    await withNodeClient(values, async (client) => {
      if (values.watch !== true) {
        const response = await client.members();
        output.out(json ? terminalJson(membersJson(response)) : membersTable(response, Date.now()));
        return;
      }
      const interruption = interruptOnSignal();
      try {
        await client.watchMembers((update) => {
          if (update.snapshot !== undefined) {
            const snapshot = membersJson(update.snapshot);
            output.out(json ? terminalJson({ snapshot }) : `${membersTable(update.snapshot, Date.now())}\n`);
          } else if (update.event !== undefined) {
            output.out(json ? terminalJson({ event: eventJson(update.event) }) : eventLine(update.event));
          }
        }, interruption.signal);
      } finally {
        interruption.dispose();
      }
      if (!interruption.signal.aborted) {
        throw new SniffmeshError(
          'QUERY_STREAM_ENDED',
          `${client.address} ended the watch (is the agent stopping?)`,
        );
      }
    });
  });
}

export function memberJson(member: Member): MemberJson {
  return {
    name: member.name,
    id: member.id,
    gossip: member.gossip,
    grpc: member.grpc,
    state: STATE_NAMES[member.state] ?? 'unknown',
    version: member.version,
    captureInterface: member.captureInterface,
    captureFilter: member.captureFilter,
    startedAtMs: member.startedAtMs,
    incarnation: member.incarnation,
    local: member.local,
    networks: member.networks,
  };
}

function membersJson(response: MembersResponse): { members: MemberJson[] } {
  return { members: response.members.map(memberJson) };
}

function eventJson(event: MembershipEvent): { type: string; timeMs: number; member: MemberJson | null } {
  return {
    type: EVENT_NAMES[event.type] ?? 'unknown',
    timeMs: event.timeMs,
    member: event.member === undefined ? null : memberJson(event.member),
  };
}

/** A table sorted by name; `*` marks the agent that answered. Every field a member sent is escaped
 * (terminalText): names are checked on receipt, but addresses, versions and filters are its own text. */
export function membersTable(response: MembersResponse, nowMs: number): string {
  const members = response.members.map(memberJson).sort((a, b) => a.name.localeCompare(b.name));
  if (members.length === 0) return '(no members)';
  const header = ['', 'NAME', 'STATE', 'GOSSIP', 'GRPC', 'VERSION', 'CAPTURE', 'STARTED', 'INCARNATION'];
  const rows = members.map((m) => [
    m.local ? '*' : '',
    terminalText(m.name),
    m.state,
    terminalText(m.gossip),
    m.grpc === '' ? '-' : terminalText(m.grpc),
    m.version === '' ? '-' : terminalText(m.version),
    terminalText(captureText(m)),
    m.startedAtMs === 0 ? '-' : `${formatDuration((nowMs - m.startedAtMs) / 1000)} ago`,
    String(m.incarnation),
  ]);
  const counts = new Map<string, number>();
  for (const m of members) counts.set(m.state, (counts.get(m.state) ?? 0) + 1);
  const summary = [...counts].map(([state, n]) => `${n} ${state}`).join(', ');
  return [
    renderTable(header, rows, ['l', 'l', 'l', 'l', 'l', 'l', 'l', 'r', 'r']),
    '',
    `${members.length} member${members.length === 1 ? '' : 's'}: ${summary}; * = the agent that answered`,
  ].join('\n');
}

function captureText(member: MemberJson): string {
  if (member.captureInterface === '') return '-';
  return member.captureFilter === ''
    ? member.captureInterface
    : `${member.captureInterface} '${member.captureFilter}'`;
}

/** `2025-01-01T12:00:00.000Z  joined     b  127.0.0.1:7947` */
export function eventLine(event: MembershipEvent): string {
  const time = new Date(event.timeMs === 0 ? Date.now() : event.timeMs).toISOString();
  const type = (EVENT_NAMES[event.type] ?? 'unknown').padEnd('recovered'.length);
  const member = event.member;
  return `${time}  ${type}  ${terminalText(member?.name ?? '-')}  ${terminalText(member?.gossip || '-')}`;
}
