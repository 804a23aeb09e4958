import { UsageError } from '../../util/errors.js';
import { parseAddress } from '../../util/ip-address.js';
import { KEY_DST, KEY_META, KEY_PORTS, KEY_SRC } from './flow-facts.js';
import { REC_INTS } from './flow-table.js';
import { LocalNetworks } from './local-networks.js';
import { hasPorts } from './protocol-names.js';

const PORT_MIN = 1;
const PORT_MAX = 65_535;
const PROTOCOL_MAX = 255;

/** Which flows a question counts, as the query API sends it (proto `Filters`). */
export interface FlowFilterSpec {
  /** Flows with either address in one of these blocks ("10.0.0.0/8", "2001:db8::/32", a bare address). */
  cidrs: readonly string[];
  /** Flows with either port in the list; only protocols that have ports (TCP, UDP, SCTP, ...) can match. */
  ports: readonly number[];
  /** IP protocol numbers (6 = TCP, 17 = UDP, ...). */
  protocols: readonly number[];
}

/**
 * A compiled flow filter: an empty list does not restrict; values are ORed within a list and the lists
 * are ANDed. It is checked once per flow per question (not per packet) against the key words in the
 * flow table, and allocates nothing while checking.
 */
export class FlowFilter {
  private readonly networks: LocalNetworks | null;
  /** Port -> 1 when listed; null = any port. */
  private readonly portSet: Uint8Array | null;
  /** Protocol -> 1 when listed; null = any protocol. */
  private readonly protocolSet: Uint8Array | null;
  /** One address copied out of the table, because LocalNetworks.contains reads words from index 0. */
  private readonly address = new Uint32Array(4);
  private readonly text: string;

  private constructor(spec: FlowFilterSpec) {
    this.networks = spec.cidrs.length === 0 ? null : compileCidrs(spec.cidrs);
    this.portSet = spec.ports.length === 0 ? null : compileNumbers(spec.ports, 'port', PORT_MIN, PORT_MAX);
    this.protocolSet =
      spec.protocols.length === 0 ? null : compileNumbers(spec.protocols, 'protocol', 0, PROTOCOL_MAX);
    const parts: string[] = [];
    if (spec.cidrs.length > 0) parts.push(`cidr ${spec.cidrs.join(',')}`);
    if (spec.ports.length > 0) parts.push(`port ${spec.ports.join(',')}`);
    if (spec.protocols.length > 0) parts.push(`protocol ${spec.protocols.join(',')}`);
    this.text = parts.length === 0 ? 'any' : parts.join(' and ');
  }

  /** Validates and compiles `spec`; throws UsageError naming the first bad value and what is expected. */
  static compile(spec: FlowFilterSpec): FlowFilter {
    return new FlowFilter(spec);
  }

  /** False when every list is empty: the filter accepts every flow and callers may skip it. */
  get restricts(): boolean {
    return this.networks !== null || this.portSet !== null || this.protocolSet !== null;
  }

  /** "cidr 10.0.0.0/8 and port 53,443", or "any": for logs and answers. */
  describe(): string {
    return this.text;
  }

  /** True when the flow in `slot` of a flow table (its `records`) passes every list. */
  accepts(records: Int32Array, slot: number): boolean {
    const k = slot * REC_INTS;
    const meta = records[k + KEY_META];
    const protocol = meta & 0xff;
    if (this.protocolSet !== null && this.protocolSet[protocol] === 0) return false;
    if (this.portSet !== null) {
      if (!hasPorts(protocol)) return false;
      const ports = records[k + KEY_PORTS];
      if (this.portSet[ports >>> 16] === 0 && this.portSet[ports & 0xffff] === 0) return false;
    }
    if (this.networks !== null) {
      const version = meta >>> 8;
      if (!this.addressIn(records, k + KEY_SRC, version) && !this.addressIn(records, k + KEY_DST, version))
        return false;
    }
    return true;
  }

  private addressIn(records: Int32Array, at: number, version: number): boolean {
    const a = this.address;
    a[0] = records[at];
    a[1] = records[at + 1];
    a[2] = records[at + 2];
    a[3] = records[at + 3];
    return this.networks!.contains(version, a);
  }
}

/** Parses every block here first, so errors say `filter cidr` (LocalNetworks.add speaks of --local-net). */
function compileCidrs(cidrs: readonly string[]): LocalNetworks {
  const networks = new LocalNetworks();
  for (const cidr of cidrs) {
    const slash = cidr.indexOf('/');
    const addressText = slash === -1 ? cidr : cidr.slice(0, slash);
    const parsed = parseAddress(addressText);
    if (parsed === null) {
      throw new UsageError(
        `filter cidr '${cidr}': '${addressText}' is not an IP address (expected e.g. 10.0.0.0/8, 2001:db8::/32 or a bare address)`,
      );
    }
    const maxPrefix = parsed.version === 4 ? 32 : 128;
    if (slash !== -1) {
      const prefixText = cidr.slice(slash + 1);
      const prefixLength = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
      if (!(prefixLength >= 0 && prefixLength <= maxPrefix)) {
        throw new UsageError(`filter cidr '${cidr}': prefix length must be 0..${maxPrefix}`);
      }
    }
    networks.add(cidr);
  }
  return networks;
}

/** A membership table over [0, max] for integer values in [min, max]. */
function compileNumbers(values: readonly number[], what: string, min: number, max: number): Uint8Array {
  const set = new Uint8Array(max + 1);
  for (const value of values) {
    if (!(Number.isInteger(value) && value >= min && value <= max)) {
      throw new UsageError(`filter ${what} ${value}: must be ${min}..${max}`);
    }
    set[value] = 1;
  }
  return set;
}
