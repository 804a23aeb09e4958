import { MAX_RECORD_BYTES, maxCapturedBytesForLinkType } from './capture-file-limits.js';
import type { FrameSink } from './frame-sink.js';
import type { RecordParser } from './record-parser.js';

/**
 * Parser for classic pcap (libpcap savefile): a 24-byte file header, then 16-byte record headers each
 * followed by the captured bytes. Both byte orders, microsecond and nanosecond resolution.
 *
 * Why DataView: measured on 5.3 M frames (128-byte snap length) it beat both manual byte shifts on a
 * Uint8Array (~1.3x) and Buffer.readUInt32LE (~3x): V8 inlines DataView getters, including the
 * byte-order argument when it is a loop-invariant boolean, so one loop serves both byte orders.
 *
 * Leniency, following libpcap where the data is still unambiguous:
 * - a captured length above the header's snap length is accepted up to the larger of libpcap's
 *   per-link-type maximum and the snap length itself; only beyond that is the record damage (the
 *   record header is then the only clue to where the next record starts, and it is clearly wrong);
 * - a captured length larger than the original length is delivered as the file says;
 * - a fraction-of-second field at or above one second is carried into the seconds (libpcap passes it
 *   through; the FrameSink contract wants nanoseconds below 1e9);
 * - the header's thiszone and sigfigs are ignored, as libpcap and Wireshark do.
 */

export const PCAP_FILE_HEADER_BYTES = 24;
export const PCAP_RECORD_HEADER_BYTES = 16;

/** Magic numbers as read big-endian from the first four bytes. */
export const PCAP_MAGIC_MICROS_BIG_ENDIAN = 0xa1b2c3d4;
export const PCAP_MAGIC_MICROS_LITTLE_ENDIAN = 0xd4c3b2a1;
export const PCAP_MAGIC_NANOS_BIG_ENDIAN = 0xa1b23c4d;
export const PCAP_MAGIC_NANOS_LITTLE_ENDIAN = 0x4d3cb2a1;

/** libpcap's LT_FCS_LENGTH_PRESENT bit of the header's link-type field. */
const FCS_LENGTH_PRESENT_BIT = 0x0400_0000;

export class PcapRecordParser implements RecordParser {
  frames = 0;
  damage: string | null = null;
  bytesNeeded = PCAP_FILE_HEADER_BYTES;
  pausedSeconds = 0;
  pausedNanos = 0;
  pausedAtGate = false;

  /** LINKTYPE_* of every frame: the low 16 bits of the header's link-type field. Valid after the header. */
  linkType = -1;
  /** The header's snap length as written (0 and absurd values included). */
  snapLength = 0;
  /** Bytes of FCS at the end of each frame when the header says so (libpcap's convention), else null. */
  fcsBytes: number | null = null;
  versionMajor = 0;
  versionMinor = 0;
  /** Largest captured length accepted before a record header counts as damaged. */
  maxCapturedBytes = 0;

  readonly littleEndian: boolean;
  readonly nanosecondResolution: boolean;

  private headerParsed = false;
  private gateSeconds = Number.POSITIVE_INFINITY;
  private gateNanos = 0;
  private view: DataView | null = null;
  private viewData: Uint8Array | null = null;

  /** @param magic the first four bytes read big-endian; one of the PCAP_MAGIC_* constants. */
  constructor(magic: number) {
    this.littleEndian = magic === PCAP_MAGIC_MICROS_LITTLE_ENDIAN || magic === PCAP_MAGIC_NANOS_LITTLE_ENDIAN;
    this.nanosecondResolution =
      magic === PCAP_MAGIC_NANOS_BIG_ENDIAN || magic === PCAP_MAGIC_NANOS_LITTLE_ENDIAN;
  }

  static isPcapMagic(magic: number): boolean {
    return (
      magic === PCAP_MAGIC_MICROS_BIG_ENDIAN ||
      magic === PCAP_MAGIC_MICROS_LITTLE_ENDIAN ||
      magic === PCAP_MAGIC_NANOS_BIG_ENDIAN ||
      magic === PCAP_MAGIC_NANOS_LITTLE_ENDIAN
    );
  }

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
    let pos = start;
    if (!this.headerParsed) {
      if (end - pos < PCAP_FILE_HEADER_BYTES) {
        this.bytesNeeded = PCAP_FILE_HEADER_BYTES;
        return pos;
      }
      this.parseFileHeader(view, pos);
      if (this.damage !== null) return pos;
      pos += PCAP_FILE_HEADER_BYTES;
    }
    return this.parseRecords(data, view, pos, end, sink);
  }

  /** The hot loop: four integer reads and one sink call per frame, nothing allocated. */
  private parseRecords(
    data: Uint8Array,
    view: DataView,
    start: number,
    end: number,
    sink: FrameSink,
  ): number {
    const littleEndian = this.littleEndian;
    const linkType = this.linkType;
    const maxCapturedBytes = this.maxCapturedBytes;
    const fractionsPerSecond = this.nanosecondResolution ? 1_000_000_000 : 1_000_000;
    const nanosPerFraction = this.nanosecondResolution ? 1 : 1000;
    const gateSeconds = this.gateSeconds;
    const gateNanos = this.gateNanos;
    let pos = start;
    let frames = 0;
    for (;;) {
      if (end - pos < PCAP_RECORD_HEADER_BYTES) {
        this.bytesNeeded = PCAP_RECORD_HEADER_BYTES;
        break;
      }
      const capturedLength = view.getUint32(pos + 8, littleEndian);
      if (capturedLength > maxCapturedBytes) {
        this.damage = `record header says captured length ${capturedLength} exceeds the ${maxCapturedBytes}-byte limit`;
        break;
      }
      const recordBytes = PCAP_RECORD_HEADER_BYTES + capturedLength;
      if (end - pos < recordBytes) {
        this.bytesNeeded = recordBytes;
        break;
      }
      let seconds = view.getUint32(pos, littleEndian);
      let fraction = view.getUint32(pos + 4, littleEndian);
      if (fraction >= fractionsPerSecond) {
        seconds += Math.floor(fraction / fractionsPerSecond);
        fraction %= fractionsPerSecond;
      }
      const nanos = fraction * nanosPerFraction;
      if (seconds >= gateSeconds && (seconds > gateSeconds || nanos > gateNanos)) {
        this.pausedAtGate = true;
        this.pausedSeconds = seconds;
        this.pausedNanos = nanos;
        break;
      }
      sink.onFrame(
        linkType,
        seconds,
        nanos,
        data,
        pos + PCAP_RECORD_HEADER_BYTES,
        capturedLength,
        view.getUint32(pos + 12, littleEndian),
        0,
      );
      frames++;
      pos += recordBytes;
    }
    this.frames += frames;
    return pos;
  }

  private parseFileHeader(view: DataView, pos: number): void {
    const littleEndian = this.littleEndian;
    this.versionMajor = view.getUint16(pos + 4, littleEndian);
    this.versionMinor = view.getUint16(pos + 6, littleEndian);
    if (this.versionMajor !== 2) {
      // libpcap refuses majors below 2; none above 2 was ever defined, so the layout would be a guess.
      this.damage = `unsupported pcap version ${this.versionMajor}.${this.versionMinor} (only 2.x is defined)`;
      return;
    }
    this.snapLength = view.getUint32(pos + 16, littleEndian);
    const linkTypeField = view.getUint32(pos + 20, littleEndian);
    this.linkType = linkTypeField & 0xffff;
    // libpcap: bit 26 says the FCS length (in 16-bit words) is in bits 28..31.
    this.fcsBytes = (linkTypeField & FCS_LENGTH_PRESENT_BIT) !== 0 ? (linkTypeField >>> 28) * 2 : null;
    const snapLimit = Math.min(this.snapLength, MAX_RECORD_BYTES - PCAP_RECORD_HEADER_BYTES);
    this.maxCapturedBytes = Math.max(maxCapturedBytesForLinkType(this.linkType), snapLimit);
    this.headerParsed = true;
  }

  describeTruncation(_data: Uint8Array, _start: number, availableBytes: number): string {
    const have = availableBytes;
    if (!this.headerParsed) {
      return `file ends ${have} bytes into the ${PCAP_FILE_HEADER_BYTES}-byte pcap file header`;
    }
    if (have < PCAP_RECORD_HEADER_BYTES) {
      return `file ends ${have} bytes into a ${PCAP_RECORD_HEADER_BYTES}-byte record header`;
    }
    const capturedLength = this.bytesNeeded - PCAP_RECORD_HEADER_BYTES;
    return (
      `file ends ${have} bytes into a ${this.bytesNeeded}-byte record ` +
      `(${PCAP_RECORD_HEADER_BYTES}-byte header + ${capturedLength} captured bytes)`
    );
  }
}
