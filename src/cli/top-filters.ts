import type { Command } from 'commander';
import { protocolNumber } from '../node/flows/protocol-names.js';
import type { Filters } from '../query/generated/sniffmesh.js';
import { UsageError } from '../util/errors.js';
import { parseAddress } from '../util/ip-address.js';
import { parseInteger } from './common-options.js';

const MAX_PORT = 65_535;
const MAX_PROTOCOL = 255;

/** The filter flags as commander hands them over: every use of a flag, each split at commas. */
export interface FilterOptionValues {
  cidr?: string[];
  port?: string[];
  protocol?: string[];
  nodes?: string[];
}

/** "a,b" and repeated flags both become one list. */
const collectList = (value: string, previous: string[] = []) => [...previous, ...value.split(',')];

/** Adds --cidr, --port, --protocol, --nodes (each a comma list, repeatable). */
export function addFilterOptions(command: Command): Command {
  return command
    .option('--cidr <cidr,...>', 'only flows with either address in one of these blocks', collectList)
    .option('--port <N,...>', 'only flows with either port in the list (TCP, UDP, SCTP)', collectList)
    .option(
      '--protocol <name|N,...>',
      'only these IP protocols: tcp, udp, icmp, ... or a number',
      collectList,
    )
    .option('--nodes <name,...>', 'ask only these members (the others are listed as skipped)', collectList);
}

/**
 * The Filters message for the flags given; empty lists do not filter. Throws UsageError naming the flag
 * and the bad item, so a typo never silently widens or empties the answer.
 */
export function filtersFrom(values: FilterOptionValues): Filters {
  return {
    cidrs: (values.cidr ?? []).map((text) => checkCidr(text.trim())),
    ports: (values.port ?? []).map((text) => parseInteger('--port', text, 1, MAX_PORT)),
    protocols: (values.protocol ?? []).map(parseProtocol),
    nodes: (values.nodes ?? []).map((text) => {
      const name = text.trim();
      if (name === '') throw new UsageError('--nodes: empty member name (check for a stray comma)');
      return name;
    }),
  };
}

/** "10.0.0.0/8", "2001:db8::/32" or a bare address; returned as given. */
function checkCidr(text: string): string {
  const slash = text.indexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const parsed = parseAddress(addressText);
  if (parsed === null) throw new UsageError(`--cidr ${text}: '${addressText}' is not an IP address`);
  if (slash !== -1) {
    const maxPrefix = parsed.version === 4 ? 32 : 128;
    const prefixText = text.slice(slash + 1);
    const prefixLength = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
    if (!(prefixLength >= 0 && prefixLength <= maxPrefix)) {
      throw new UsageError(`--cidr ${text}: prefix length must be 0..${maxPrefix}`);
    }
  }
  return text;
}

/** "tcp", "UDP", "icmp", "ip-proto-99" or a number 0..255. */
function parseProtocol(text: string): number {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return parseInteger('--protocol', trimmed, 0, MAX_PROTOCOL);
  const protocol = protocolNumber(trimmed);
  if (protocol === undefined) {
    throw new UsageError(
      `--protocol: '${text}' is not a protocol name (tcp, udp, icmp, ...) or number 0-255`,
    );
  }
  return protocol;
}
