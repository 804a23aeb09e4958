import { gzipSync } from 'node:zlib';

/**
 * Builds classic pcap and pcapng files byte by byte, for every variant the capture-file reader
 * handles (both byte orders, micro/nanosecond pcap, pcapng sections, interfaces with different link
 * types, EPB / SPB / obsolete PB, unknown blocks, if_tsresol / if_tsoffset), plus deliberately broken
 * length fields. Independent of the reader's code: only the file-format specs are shared.
 *
 * Every builder also reports where each record or block starts, so damage tests know the boundaries.
 */

export interface BuiltBlock {
  /** Byte offset of the record (pcap: record header; pcapng: block) in the file. */
  offset: number;
  length: number;
  /** True when the record or block carries a frame. */
  frame: boolean;
}

export interface BuiltCapture {
  bytes: Buffer;
  /** Records or blocks in file order (the pcap file header is not listed). */
  blocks: BuiltBlock[];
}

// ---------------------------------------------------------------------------------------------------
// Classic pcap

export interface PcapRecordSpec {
  seconds: number;
  /** Microseconds, or nanoseconds for a nanosecond file. */
  fraction: number;
  data: Uint8Array;
  /** Original (wire) length; default data.length. */
  originalLength?: number;
  /** Written instead of data.length in the captured-length field (to forge damage). */
  capturedLengthField?: number;
}

export interface PcapFileSpec {
  littleEndian?: boolean;
  nanosecond?: boolean;
  /** The whole 32-bit link-type field (LINKTYPE in the low 16 bits, FCS bits above). Default 1. */
  linkTypeField?: number;
  snapLength?: number;
  versionMajor?: number;
  versionMinor?: number;
  records: PcapRecordSpec[];
}

export function buildPcap(spec: PcapFileSpec): BuiltCapture {
  const le = spec.littleEndian ?? true;
  const parts: Buffer[] = [];
  const header = Buffer.alloc(24);
  const magic = spec.nanosecond ? 0xa1b23c4d : 0xa1b2c3d4;
  writeU32(header, 0, magic, le);
  writeU16(header, 4, spec.versionMajor ?? 2, le);
  writeU16(header, 6, spec.versionMinor ?? 4, le);
  writeU32(header, 8, 0, le); // thiszone
  writeU32(header, 12, 0, le); // sigfigs
  writeU32(header, 16, spec.snapLength ?? 65_535, le);
  writeU32(header, 20, spec.linkTypeField ?? 1, le);
  parts.push(header);
  const blocks: BuiltBlock[] = [];
  let offset = header.length;
  for (const record of spec.records) {
    const recordHeader = Buffer.alloc(16);
    writeU32(recordHeader, 0, record.seconds, le);
    writeU32(recordHeader, 4, record.fraction, le);
    writeU32(recordHeader, 8, record.capturedLengthField ?? record.data.length, le);
    writeU32(recordHeader, 12, record.originalLength ?? record.data.length, le);
    parts.push(recordHeader, Buffer.from(record.data));
    const length = 16 + record.data.length;
    blocks.push({ offset, length, frame: true });
    offset += length;
  }
  return { bytes: Buffer.concat(parts), blocks };
}

// ---------------------------------------------------------------------------------------------------
// pcapng

export interface InterfaceSpec {
  linkType: number;
  snapLength?: number;
  /** if_tsresol byte (high bit set = power of 2); omitted = no option (microseconds). */
  tsresol?: number;
  /** if_tsoffset in seconds; omitted = no option. */
  tsoffset?: bigint;
  /** if_name, to have an option before the ones that matter. */
  name?: string;
}

export interface PacketSpec {
  interfaceIndex: number;
  /** Timestamp in the interface's units since the epoch. */
  timestamp: bigint;
  data: Uint8Array;
  originalLength?: number;
  /** Written instead of data.length in the captured-length field. */
  capturedLengthField?: number;
  /** An epb_flags option after the data. */
  withOptions?: boolean;
}

export interface RawBlockOverrides {
  /** Written in the leading total-length field instead of the real length. */
  totalLength?: number;
  /** Written in the trailing total-length field instead of the real length. */
  trailerLength?: number;
}

/** Builds a pcapng file block by block; section() switches the byte order for the blocks after it. */
export class PcapngBuilder {
  private readonly parts: Buffer[] = [];
  private readonly blocks: BuiltBlock[] = [];
  private offset = 0;
  private littleEndian = true;

  section(options: { littleEndian?: boolean; versionMajor?: number; versionMinor?: number } = {}): this {
    this.littleEndian = options.littleEndian ?? true;
    const le = this.littleEndian;
    const body = Buffer.alloc(16);
    writeU32(body, 0, 0x1a2b3c4d, le);
    writeU16(body, 4, options.versionMajor ?? 1, le);
    writeU16(body, 6, options.versionMinor ?? 0, le);
    body.writeBigInt64LE(-1n, 8); // section length unknown: all ones in either order
    const shbOption = option(0x0004, Buffer.from('sniffmesh test writer'), le); // shb_userappl
    return this.block(0x0a0d0d0a, Buffer.concat([body, shbOption, endOfOptions()]), false);
  }

  interface(spec: InterfaceSpec): this {
    const le = this.littleEndian;
    const body = Buffer.alloc(8);
    writeU16(body, 0, spec.linkType, le);
    writeU16(body, 2, 0, le);
    writeU32(body, 4, spec.snapLength ?? 0, le);
    const options: Buffer[] = [];
    if (spec.name !== undefined) options.push(option(2, Buffer.from(spec.name), le));
    if (spec.tsresol !== undefined) options.push(option(9, Buffer.from([spec.tsresol]), le));
    if (spec.tsoffset !== undefined) {
      const value = Buffer.alloc(8);
      if (le) value.writeBigInt64LE(spec.tsoffset);
      else value.writeBigInt64BE(spec.tsoffset);
      options.push(option(14, value, le));
    }
    if (options.length > 0) options.push(endOfOptions());
    return this.block(1, Buffer.concat([body, ...options]), false);
  }

  enhancedPacket(spec: PacketSpec, overrides: RawBlockOverrides = {}): this {
    const le = this.littleEndian;
    const fixed = Buffer.alloc(20);
    writeU32(fixed, 0, spec.interfaceIndex, le);
    writeTimestamp(fixed, 4, spec.timestamp, le);
    writeU32(fixed, 12, spec.capturedLengthField ?? spec.data.length, le);
    writeU32(fixed, 16, spec.originalLength ?? spec.data.length, le);
    const options = spec.withOptions ? [option(2, Buffer.from([0, 0, 0, 1]), le), endOfOptions()] : [];
    return this.block(6, Buffer.concat([fixed, padded(spec.data), ...options]), true, overrides);
  }

  /** The obsolete Packet Block (type 2): 16-bit interface index and a 16-bit drop count. */
  obsoletePacket(spec: PacketSpec & { drops?: number }): this {
    const le = this.littleEndian;
    const fixed = Buffer.alloc(20);
    writeU16(fixed, 0, spec.interfaceIndex, le);
    writeU16(fixed, 2, spec.drops ?? 0, le);
    writeTimestamp(fixed, 4, spec.timestamp, le);
    writeU32(fixed, 12, spec.data.length, le);
    writeU32(fixed, 16, spec.originalLength ?? spec.data.length, le);
    return this.block(2, Buffer.concat([fixed, padded(spec.data)]), true);
  }

  /** A Simple Packet Block: interface 0, no timestamp, captured bytes = the data given. */
  simplePacket(spec: { data: Uint8Array; originalLength?: number }): this {
    const fixed = Buffer.alloc(4);
    writeU32(fixed, 0, spec.originalLength ?? spec.data.length, this.littleEndian);
    return this.block(3, Buffer.concat([fixed, padded(spec.data)]), true);
  }

  /** Any block the reader must skip (statistics, name resolution, custom, unknown types). */
  otherBlock(type: number, body: Uint8Array): this {
    return this.block(type, padded(body), false);
  }

  /** A block with arbitrary body and optionally lying length fields (damage tests). */
  rawBlock(type: number, body: Uint8Array, frame: boolean, overrides: RawBlockOverrides = {}): this {
    return this.block(type, Buffer.from(body), frame, overrides);
  }

  build(): BuiltCapture {
    return { bytes: Buffer.concat(this.parts), blocks: [...this.blocks] };
  }

  private block(type: number, body: Buffer, frame: boolean, overrides: RawBlockOverrides = {}): this {
    const le = this.littleEndian;
    const length = 12 + body.length;
    const head = Buffer.alloc(8);
    writeU32(head, 0, type, le);
    writeU32(head, 4, overrides.totalLength ?? length, le);
    const tail = Buffer.alloc(4);
    writeU32(tail, 0, overrides.trailerLength ?? length, le);
    this.parts.push(head, body, tail);
    this.blocks.push({ offset: this.offset, length, frame });
    this.offset += length;
    return this;
  }
}

// ---------------------------------------------------------------------------------------------------

export function gzip(bytes: Uint8Array): Buffer {
  return gzipSync(bytes);
}

/** Deterministic frame bytes: `length` bytes starting at `seed`, counting up. */
export function frameBytes(length: number, seed: number): Uint8Array {
  const data = new Uint8Array(length);
  for (let i = 0; i < length; i++) data[i] = (seed + i) & 0xff;
  return data;
}

function option(code: number, value: Uint8Array, le: boolean): Buffer {
  const head = Buffer.alloc(4);
  writeU16(head, 0, code, le);
  writeU16(head, 2, value.length, le);
  return Buffer.concat([head, padded(value)]);
}

function endOfOptions(): Buffer {
  return Buffer.alloc(4);
}

function padded(data: Uint8Array): Buffer {
  const out = Buffer.alloc((data.length + 3) & ~3);
  out.set(data);
  return out;
}

function writeTimestamp(target: Buffer, offset: number, units: bigint, le: boolean): void {
  writeU32(target, offset, Number((units >> 32n) & 0xffff_ffffn), le);
  writeU32(target, offset + 4, Number(units & 0xffff_ffffn), le);
}

function writeU32(target: Buffer, offset: number, value: number, le: boolean): void {
  if (le) target.writeUInt32LE(value >>> 0, offset);
  else target.writeUInt32BE(value >>> 0, offset);
}

function writeU16(target: Buffer, offset: number, value: number, le: boolean): void {
  if (le) target.writeUInt16LE(value, offset);
  else target.writeUInt16BE(value, offset);
}
