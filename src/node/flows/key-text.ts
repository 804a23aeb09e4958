import { formatAddress, parseAddress } from '../../util/ip-address.js';
import { type FlowFacts, KEY_DST, KEY_META, KEY_PORTS, KEY_SRC } from './flow-facts.js';
import { REC_INTS } from './flow-table.js';
import type { Grouping } from './key-vocabulary.js';
import { hasPorts, isIcmp, protocolName, protocolNumber } from './protocol-names.js';

/**
 * Key texts in both directions, part of the key vocabulary (key-vocabulary.ts): the texts every answer
 * names its rows by (groupKeyText, flowKeyText: what `analyze` and the cluster print), and their exact
 * inverse (parseGroupKeyText, parseFlowKeyText): a text is turned back into the key words it was printed
 * from, so a window table can find the group a coordinator names without printing every group's text. Only canonical texts parse (the form the
 * printers produce: RFC 5952 addresses, protocol names as protocolName prints them, decimal numbers
 * without leading zeros); anything else, including a valid but differently written address, returns
 * false, because no group prints it. Parsing never throws. Allocates per call: for the tens of keys a
 * query names, never per group.
 */

const MAX_PORT = 0xffff;
const MAX_ICMP_FIELD = 0xff;
/** Decimal without leading zeros, at most 5 digits (a port). */
const CANONICAL_DECIMAL = /^(0|[1-9]\d{0,4})$/;
const PAIR_SEPARATOR = ' <-> ';
const FLOW_ARROW = ' > ';
const ICMP_TYPE_CODE = /^ type (0|[1-9]\d{0,2}) code (0|[1-9]\d{0,2})$/;

/** A parsed flow key: the 5-tuple as a FlowFacts, so FlowTable.find can look it up. */
export class ParsedFlowKey implements FlowFacts {
  ipVersion = 0;
  protocol = 0;
  readonly srcAddr = new Uint32Array(4);
  readonly dstAddr = new Uint32Array(4);
  srcPort = 0;
  dstPort = 0;
  /** Not part of the key. */
  readonly tcpFlags = 0;
}

// ---- printing --------------------------------------------------------------------------------------

function addressAt(words: Int32Array | Uint32Array, at: number, version: number): string {
  return formatAddress(
    version,
    words[at] >>> 0,
    words[at + 1] >>> 0,
    words[at + 2] >>> 0,
    words[at + 3] >>> 0,
  );
}

/** An address of a flow record (flow-facts.ts layout), as every answer prints it. */
export function recordAddressText(records: Int32Array, at: number, version: number): string {
  return addressAt(records, at, version);
}

function endpointText(words: Int32Array, at: number, version: number, port: number): string {
  const address = addressAt(words, at, version);
  return version === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/** "tcp 198.18.0.1:40000 > 198.18.0.2:443", "icmp 198.18.0.1 > 198.18.0.2 type 8 code 0". */
export function flowKeyText(keys: Int32Array, slot: number): string {
  const k = slot * REC_INTS;
  const version = keys[k + KEY_META] >>> 8;
  const protocol = keys[k + KEY_META] & 0xff;
  const ports = keys[k + KEY_PORTS];
  const name = protocolName(protocol);
  if (hasPorts(protocol)) {
    return `${name} ${endpointText(keys, k + KEY_SRC, version, ports >>> 16)} > ${endpointText(keys, k + KEY_DST, version, ports & 0xffff)}`;
  }
  const pair = `${name} ${addressAt(keys, k + KEY_SRC, version)} > ${addressAt(keys, k + KEY_DST, version)}`;
  if (isIcmp(protocol)) return `${pair} type ${(ports >>> 8) & 0xff} code ${ports & 0xff}`;
  return pair;
}

/** The text of the group whose aggregator key words (key-vocabulary.ts layout) start at keys[at]. */
export function groupKeyText(group: Grouping, keys: Int32Array, at: number): string {
  switch (group) {
    case 'host':
    case 'src':
    case 'dst':
      return addressAt(keys, at + 1, keys[at]);
    case 'pair':
      return `${addressAt(keys, at + 1, keys[at])} <-> ${addressAt(keys, at + 5, keys[at])}`;
    case 'port':
      return keys[at + 2] === 1 ? `${protocolName(keys[at])}/${keys[at + 1]}` : protocolName(keys[at]);
    case 'proto':
      return protocolName(keys[at]);
    default:
      throw new Error(`groupKeyText: grouping ${group} has no aggregated key`);
  }
}

// ---- parsing ---------------------------------------------------------------------------------------

/**
 * Writes the aggregator key words of a group text (the layout of key-vocabulary.ts: version + address for
 * host/src/dst, version + both addresses for pair, protocol + port + has-port flag for port, protocol for
 * proto) into `key`; false when the text is not one groupKeyText prints. Flow texts: parseFlowKeyText.
 */
export function parseGroupKeyText(group: Grouping, text: string, key: Int32Array): boolean {
  switch (group) {
    case 'host':
    case 'src':
    case 'dst': {
      const address = parseCanonicalAddress(text);
      if (address === null) return false;
      key[0] = address.version;
      writeWords(address.words, key, 1);
      return true;
    }
    case 'pair': {
      const split = text.indexOf(PAIR_SEPARATOR);
      if (split < 0) return false;
      const first = parseCanonicalAddress(text.slice(0, split));
      const second = parseCanonicalAddress(text.slice(split + PAIR_SEPARATOR.length));
      if (first === null || second === null || first.version !== second.version) return false;
      key[0] = first.version;
      writeWords(first.words, key, 1);
      writeWords(second.words, key, 5);
      return true;
    }
    case 'port': {
      const slash = text.indexOf('/');
      const protocol = parseProtocolName(slash < 0 ? text : text.slice(0, slash));
      if (protocol < 0) return false;
      key[0] = protocol;
      if (slash < 0) {
        key[1] = 0;
        key[2] = 0;
        return true;
      }
      const port = parseCanonicalDecimal(text.slice(slash + 1), MAX_PORT);
      if (port < 0) return false;
      key[1] = port;
      key[2] = 1;
      return true;
    }
    case 'proto': {
      const protocol = parseProtocolName(text);
      if (protocol < 0) return false;
      key[0] = protocol;
      return true;
    }
    default:
      return false;
  }
}

/**
 * Parses a flowKeyText text ("tcp 198.18.0.1:40000 > 198.18.0.2:443", "udp [2001:db8::1]:5 > [..]:6",
 * "icmp a > b type 8 code 0", "gre a > b") into `into`; false when it is not one flowKeyText prints.
 * Ports follow the decoder's convention (packet-decoder.ts): ICMP carries srcPort 0 and dstPort =
 * type << 8 | code, protocols without ports carry 0 and 0.
 */
export function parseFlowKeyText(text: string, into: ParsedFlowKey): boolean {
  const space = text.indexOf(' ');
  if (space < 0) return false;
  const protocol = parseProtocolName(text.slice(0, space));
  if (protocol < 0) return false;
  into.protocol = protocol;
  const rest = text.slice(space + 1);
  const arrow = rest.indexOf(FLOW_ARROW);
  if (arrow < 0) return false;
  const source = rest.slice(0, arrow);
  let destination = rest.slice(arrow + FLOW_ARROW.length);
  if (hasPorts(protocol)) {
    const src = parseEndpoint(source);
    const dst = parseEndpoint(destination);
    if (src === null || dst === null || src.version !== dst.version) return false;
    into.ipVersion = src.version;
    into.srcAddr.set(src.words);
    into.dstAddr.set(dst.words);
    into.srcPort = src.port;
    into.dstPort = dst.port;
    return true;
  }
  into.srcPort = 0;
  into.dstPort = 0;
  if (isIcmp(protocol)) {
    // Addresses hold no spaces: the type and code follow the first space of the destination part.
    const end = destination.indexOf(' ');
    if (end < 0) return false;
    const typeCode = ICMP_TYPE_CODE.exec(destination.slice(end));
    if (typeCode === null) return false;
    const type = parseCanonicalDecimal(typeCode[1], MAX_ICMP_FIELD);
    const code = parseCanonicalDecimal(typeCode[2], MAX_ICMP_FIELD);
    if (type < 0 || code < 0) return false;
    into.dstPort = (type << 8) | code;
    destination = destination.slice(0, end);
  }
  const src = parseCanonicalAddress(source);
  const dst = parseCanonicalAddress(destination);
  if (src === null || dst === null || src.version !== dst.version) return false;
  into.ipVersion = src.version;
  into.srcAddr.set(src.words);
  into.dstAddr.set(dst.words);
  return true;
}

/** The protocol number protocolName prints as `name` (including "ip-proto-N"), else -1. */
export function parseProtocolName(name: string): number {
  const protocol = protocolNumber(name);
  // protocolNumber is lenient (any case, "ip-proto-6" for tcp): keep only the name protocolName prints.
  return protocol !== undefined && protocolName(protocol) === name ? protocol : -1;
}

/** An address exactly as formatAddress prints it, else null ("2001:DB8::1" and "::0:1" are refused). */
function parseCanonicalAddress(text: string): { version: 4 | 6; words: Uint32Array } | null {
  const address = parseAddress(text);
  if (address === null) return null;
  const w = address.words;
  return formatAddress(address.version, w[0], w[1], w[2], w[3]) === text ? address : null;
}

/** "198.18.0.1:443" or "[2001:db8::1]:443". */
function parseEndpoint(text: string): { version: 4 | 6; words: Uint32Array; port: number } | null {
  const colon = text.lastIndexOf(':');
  if (colon < 0) return null;
  const port = parseCanonicalDecimal(text.slice(colon + 1), MAX_PORT);
  if (port < 0) return null;
  const host = text.slice(0, colon);
  const bracketed = host.startsWith('[') && host.endsWith(']');
  const address = parseCanonicalAddress(bracketed ? host.slice(1, -1) : host);
  // IPv6 endpoints are always bracketed, IPv4 ones never.
  if (address === null || (address.version === 6) !== bracketed) return null;
  return { version: address.version, words: address.words, port };
}

/** A decimal without leading zeros in [0, max], else -1. */
function parseCanonicalDecimal(text: string, max: number): number {
  if (!CANONICAL_DECIMAL.test(text)) return -1;
  const value = Number(text);
  return value <= max ? value : -1;
}

function writeWords(words: Uint32Array, key: Int32Array, at: number): void {
  key[at] = words[0];
  key[at + 1] = words[1];
  key[at + 2] = words[2];
  key[at + 3] = words[3];
}
