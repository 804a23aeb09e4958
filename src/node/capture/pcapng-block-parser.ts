import { MAX_RECORD_BYTES } from './capture-file-limits.js';
import type { FrameSink } from './frame-sink.js';
import { PcapngTimestampScale } from './pcapng-timestamp-scale.js';
import type { RecordParser } from './record-parser.js';

/**
 * Parser for pcapng: sections (each Section Header Block sets the byte order and starts an empty
 * interface list), Interface Description Blocks (link type, snap length, if_tsresol, if_tsoffset), and
 * the three packet blocks: Enhanced (EPB), Simple (SPB) and the obsolete Packet Block (PB). Every other
 * block (statistics, name resolution, decryption secrets, custom, unknown) is skipped by its length.
 *
 * Decisions:
 * - A Simple Packet Block carries no timestamp: its frame gets the timestamp of the previous frame
 *   (0, 0 when it is the first frame) and is never held back by real-time pacing. Its captured length
 *   is min(original length, interface 0's snap length when non-zero), as the pcapng spec says, and
 *   also at most what the block holds (libpcap and Wireshark call a shorter block damage; its end is
 *   known, so we deliver what it holds). Its interface is 0.
 * - Strict where continuing would misparse or misattribute: a block length below the 12-byte minimum
 *   or not a multiple of 4, a trailer length differing from the header's, a packet block naming an
 *   interface the section has not described, a captured length that does not fit in its block, and a
 *   section version other than 1.x (Wireshark refuses those too).
 * - Lenient where the block boundary keeps the data unambiguous: captured length above the snap length
 *   or above the original length, missing padding after the packet data, malformed options (reading
 *   options stops at the first one that overruns its block; earlier ones are kept).
 */

const BLOCK_SECTION_HEADER = 0x0a0d0d0a;
const BLOCK_INTERFACE_DESCRIPTION = 1;
const BLOCK_PACKET_OBSOLETE = 2;
const BLOCK_SIMPLE_PACKET = 3;
const BLOCK_NAME_RESOLUTION = 4;
const BLOCK_INTERFACE_STATISTICS = 5;
const BLOCK_ENHANCED_PACKET = 6;
const BLOCK_DECRYPTION_SECRETS = 0x0a;
const BLOCK_CUSTOM_COPYABLE = 0x0bad;
const BLOCK_CUSTOM_NOT_COPYABLE = 0x4000_0bad;

/** The byte-order magic as read little-endian: 0x1A2B3C4D when the section is little-endian. */
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const BYTE_ORDER_MAGIC_SWAPPED = 0x4d3c2b1a;

/** Type and total length; every block also ends with its total length again. */
const BLOCK_HEADER_BYTES = 8;
const MIN_BLOCK_BYTES = 12;
const MIN_SECTION_HEADER_BYTES = 28;
const MIN_INTERFACE_DESCRIPTION_BYTES = 20;
/** EPB and PB: header, 20 fixed bytes, trailer. */
const MIN_PACKET_BLOCK_BYTES = 32;
const MIN_SIMPLE_PACKET_BYTES = 16;
/** Offset of the packet data in EPB and PB (both: 8 header + 20 fixed bytes). */
const PACKET_DATA_OFFSET = 28;
const SIMPLE_PACKET_DATA_OFFSET = 12;

const OPTION_END = 0;
const OPTION_IF_TSRESOL = 9;
const OPTION_IF_TSOFFSET = 14;

/**
 * Interfaces one section may describe. Real captures have a handful; the cap keeps a file made of
 * millions of IDBs from growing the interface table without bound.
 */
export const MAX_INTERFACES_PER_SECTION = 65_536;

export const PCAPNG_MAGIC = BLOCK_SECTION_HEADER;

/** One Interface Description Block of the current section. */
export class PcapngInterface {
  constructor(
    readonly linkType: number,
    readonly snapLength: number,
    readonly timestamps: PcapngTimestampScale,
  ) {}
}

export class PcapngBlockParser implements RecordParser {
  frames = 0;
  damage: string | null = null;
  bytesNeeded = MIN_BLOCK_BYTES;
  pausedSeconds = 0;
  pausedNanos = 0;
  pausedAtGate = false;

  /** Sections seen so far (Section Header Blocks). */
  sections = 0;
  /** Byte order of the current section. */
  littleEndian = true;
  /** The current section's interfaces, by index. */
  interfaces: PcapngInterface[] = [];

  private lastSeconds = 0;
  private lastNanos = 0;
  private gateSeconds = Number.POSITIVE_INFINITY;
  private gateNanos = 0;
  private view: DataView | null = null;
  private viewData: Uint8Array | null = null;

  setGate(gateSeconds: number, gateNanos: number): void {
    this.gateSeconds = gateSeconds;
    this.gateNanos = gateNanos;
  }

  parse(data: Uint8Array, start: number, end: number, sink: FrameSink): number {
    this.pausedAtGate = false;
    if (this.viewData !== data) {
      this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      this.viewData = data;
    }
    const view = this.view!;
    const gateSeconds = this.gateSeconds;
    const gateNanos = this.gateNanos;
    let littleEndian = this.littleEndian;
    let lastSeconds = this.lastSeconds;
    let lastNanos = this.lastNanos;
    let frames = 0;
    let pos = start;
    for (;;) {
      const have = end - pos;
      if (have < BLOCK_HEADER_BYTES) {
        this.bytesNeeded = BLOCK_HEADER_BYTES;
        break;
      }
      const type = view.getUint32(pos, littleEndian);
      let blockLittleEndian = littleEndian;
      if (type === BLOCK_SECTION_HEADER) {
        if (have < MIN_BLOCK_BYTES) {
          this.bytesNeeded = MIN_BLOCK_BYTES;
          break;
        }
        const magic = view.getUint32(pos + 8, true);
        if (magic === BYTE_ORDER_MAGIC) blockLittleEndian = true;
        else if (magic === BYTE_ORDER_MAGIC_SWAPPED) blockLittleEndian = false;
        else {
          this.damage = `section header block has an unknown byte-order magic 0x${hex32(magic)}`;
          break;
        }
      } else if (this.sections === 0) {
        this.damage = `pcapng data does not start with a section header block (block type 0x${hex32(type)})`;
        break;
      }
      const totalLength = view.getUint32(pos + 4, blockLittleEndian);
      if (totalLength < MIN_BLOCK_BYTES || totalLength % 4 !== 0 || totalLength > MAX_RECORD_BYTES) {
        this.damage = describeBadTotalLength(totalLength);
        break;
      }
      if (have < totalLength) {
        this.bytesNeeded = totalLength;
        break;
      }
      const trailerLength = view.getUint32(pos + totalLength - 4, blockLittleEndian);
      if (trailerLength !== totalLength) {
        this.damage =
          `${blockName(type)} has total length ${totalLength} at its start ` +
          `but ${trailerLength} at its end`;
        break;
      }

      if (type === BLOCK_ENHANCED_PACKET || type === BLOCK_PACKET_OBSOLETE) {
        // EPB and the obsolete PB share their layout except for the interface field (32 vs 16 bits,
        // PB's other 16 bits being a drop count).
        if (totalLength < MIN_PACKET_BLOCK_BYTES) {
          this.damage = `${blockName(type)} total length ${totalLength} is below its ${MIN_PACKET_BLOCK_BYTES}-byte minimum`;
          break;
        }
        const interfaceIndex =
          type === BLOCK_ENHANCED_PACKET
            ? view.getUint32(pos + 8, littleEndian)
            : view.getUint16(pos + 8, littleEndian);
        const interfaces = this.interfaces;
        if (interfaceIndex >= interfaces.length) {
          this.damage = describeUnknownInterface(type, interfaceIndex, interfaces.length);
          break;
        }
        const capturedLength = view.getUint32(pos + 20, littleEndian);
        if (capturedLength > totalLength - MIN_PACKET_BLOCK_BYTES) {
          this.damage =
            `${blockName(type)} says captured length ${capturedLength}, ` +
            `which does not fit in its ${totalLength}-byte block`;
          break;
        }
        const iface = interfaces[interfaceIndex];
        const timestamps = iface.timestamps;
        timestamps.convert(view.getUint32(pos + 12, littleEndian), view.getUint32(pos + 16, littleEndian));
        const seconds = timestamps.seconds;
        const nanos = timestamps.nanos;
        if (seconds >= gateSeconds && (seconds > gateSeconds || nanos > gateNanos)) {
          this.pausedAtGate = true;
          this.pausedSeconds = seconds;
          this.pausedNanos = nanos;
          break;
        }
        sink.onFrame(
          iface.linkType,
          seconds,
          nanos,
          data,
          pos + PACKET_DATA_OFFSET,
          capturedLength,
          view.getUint32(pos + 24, littleEndian),
          interfaceIndex,
        );
        frames++;
        lastSeconds = seconds;
        lastNanos = nanos;
      } else if (type === BLOCK_SIMPLE_PACKET) {
        if (totalLength < MIN_SIMPLE_PACKET_BYTES) {
          this.damage = `simple packet block total length ${totalLength} is below its ${MIN_SIMPLE_PACKET_BYTES}-byte minimum`;
          break;
        }
        if (this.interfaces.length === 0) {
          this.damage = describeUnknownInterface(type, 0, 0);
          break;
        }
        const iface = this.interfaces[0];
        const originalLength = view.getUint32(pos + 8, littleEndian);
        const room = totalLength - MIN_SIMPLE_PACKET_BYTES;
        let capturedLength = Math.min(originalLength, room);
        if (iface.snapLength !== 0 && capturedLength > iface.snapLength) capturedLength = iface.snapLength;
        // No gate check: the block has no timestamp of its own to pace by (and one borrowed from
        // nothing, 0, must not anchor the real-time clock).
        sink.onFrame(
          iface.linkType,
          lastSeconds,
          lastNanos,
          data,
          pos + SIMPLE_PACKET_DATA_OFFSET,
          capturedLength,
          originalLength,
          0,
        );
        frames++;
      } else if (type === BLOCK_SECTION_HEADER) {
        if (totalLength < MIN_SECTION_HEADER_BYTES) {
          this.damage = `section header block total length ${totalLength} is below its ${MIN_SECTION_HEADER_BYTES}-byte minimum`;
          break;
        }
        const major = view.getUint16(pos + 12, blockLittleEndian);
        const minor = view.getUint16(pos + 14, blockLittleEndian);
        if (major !== 1) {
          this.damage = `unsupported pcapng section version ${major}.${minor} (only 1.x is defined)`;
          break;
        }
        littleEndian = blockLittleEndian;
        this.littleEndian = littleEndian;
        this.interfaces = [];
        this.sections++;
      } else if (type === BLOCK_INTERFACE_DESCRIPTION) {
        if (totalLength < MIN_INTERFACE_DESCRIPTION_BYTES) {
          this.damage = `interface description block total length ${totalLength} is below its ${MIN_INTERFACE_DESCRIPTION_BYTES}-byte minimum`;
          break;
        }
        if (this.interfaces.length >= MAX_INTERFACES_PER_SECTION) {
          this.damage = `more than ${MAX_INTERFACES_PER_SECTION} interface description blocks in one section`;
          break;
        }
        this.interfaces.push(readInterface(view, pos, totalLength, littleEndian));
      }
      // Every other block type carries no frame: skipped by its length.
      pos += totalLength;
    }
    this.littleEndian = littleEndian;
    this.lastSeconds = lastSeconds;
    this.lastNanos = lastNanos;
    this.frames += frames;
    return pos;
  }

  describeTruncation(data: Uint8Array, start: number, availableBytes: number): string {
    const have = availableBytes;
    if (have < BLOCK_HEADER_BYTES) {
      return `file ends ${have} bytes into an ${BLOCK_HEADER_BYTES}-byte pcapng block header`;
    }
    const view = new DataView(data.buffer, data.byteOffset + start, BLOCK_HEADER_BYTES);
    const type = view.getUint32(0, this.littleEndian);
    if (type === BLOCK_SECTION_HEADER && have < MIN_BLOCK_BYTES) {
      return `file ends ${have} bytes into a section header block, before its byte-order magic`;
    }
    return `file ends ${have} bytes into a ${this.bytesNeeded}-byte ${blockName(type)}`;
  }
}

function readInterface(
  view: DataView,
  pos: number,
  totalLength: number,
  littleEndian: boolean,
): PcapngInterface {
  const linkType = view.getUint16(pos + 8, littleEndian);
  const snapLength = view.getUint32(pos + 12, littleEndian);
  let tsresol: number | undefined;
  let tsoffset = 0;
  const optionsEnd = pos + totalLength - 4;
  let option = pos + 16;
  while (option + 4 <= optionsEnd) {
    const code = view.getUint16(option, littleEndian);
    const length = view.getUint16(option + 2, littleEndian);
    if (code === OPTION_END || option + 4 + length > optionsEnd) break;
    if (code === OPTION_IF_TSRESOL && length >= 1) tsresol = view.getUint8(option + 4);
    else if (code === OPTION_IF_TSOFFSET && length >= 8) {
      tsoffset = Number(view.getBigInt64(option + 4, littleEndian));
    }
    option += 4 + ((length + 3) & ~3);
  }
  return new PcapngInterface(linkType, snapLength, new PcapngTimestampScale(tsresol, tsoffset));
}

function describeBadTotalLength(totalLength: number): string {
  if (totalLength < MIN_BLOCK_BYTES) {
    return `pcapng block total length ${totalLength} is below the ${MIN_BLOCK_BYTES}-byte minimum`;
  }
  if (totalLength % 4 !== 0) return `pcapng block total length ${totalLength} is not a multiple of 4`;
  return `pcapng block total length ${totalLength} exceeds the ${MAX_RECORD_BYTES}-byte limit`;
}

function describeUnknownInterface(type: number, index: number, count: number): string {
  return (
    `${blockName(type)} refers to interface ${index}, but the section has ` +
    `${count} interface description block${count === 1 ? '' : 's'}`
  );
}

function blockName(type: number): string {
  switch (type) {
    case BLOCK_SECTION_HEADER:
      return 'section header block';
    case BLOCK_INTERFACE_DESCRIPTION:
      return 'interface description block';
    case BLOCK_PACKET_OBSOLETE:
      return 'packet block';
    case BLOCK_SIMPLE_PACKET:
      return 'simple packet block';
    case BLOCK_NAME_RESOLUTION:
      return 'name resolution block';
    case BLOCK_INTERFACE_STATISTICS:
      return 'interface statistics block';
    case BLOCK_ENHANCED_PACKET:
      return 'enhanced packet block';
    case BLOCK_DECRYPTION_SECRETS:
      return 'decryption secrets block';
    case BLOCK_CUSTOM_COPYABLE:
    case BLOCK_CUSTOM_NOT_COPYABLE:
      return 'custom block';
    default:
      return `block of type 0x${hex32(type)}`;
  }
}

function hex32(value: number): string {
  return value.toString(16).padStart(8, '0');
}
