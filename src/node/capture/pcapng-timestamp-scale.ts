/**
 * Converts a pcapng timestamp (a 64-bit count of interface-specific units since the epoch, split into
 * high and low 32-bit words) into (seconds, nanoseconds), honouring if_tsresol and if_tsoffset.
 *
 * Results are written to `seconds` / `nanos` instead of returned, so the per-frame call allocates nothing.
 * Nanoseconds are truncated toward zero within the unit (as Wireshark does): 1/256 s units give
 * floor(k * 1e9 / 256) ns.
 */

/** Units per second when the IDB carries no if_tsresol option: microseconds. */
const DEFAULT_TSRESOL_BYTE = 6;

const TWO_POW_32 = 4_294_967_296;
/** Above this high word, high * 2^32 + low no longer fits in a double's 53-bit mantissa. */
const EXACT_HIGH_WORD_LIMIT = 0x20_0000;
/** The fast path's long division keeps remainder * 2^16 below 2^53. */
const FAST_PATH_MAX_UNITS_PER_SECOND = 2 ** 30;
const NANOS_PER_SECOND = 1_000_000_000;

export class PcapngTimestampScale {
  /** Seconds of the last conversion (if_tsoffset included). */
  seconds = 0;
  /** Nanoseconds within the second of the last conversion, 0..999,999,999. */
  nanos = 0;

  /** Units per second (10^k or 2^k); exact in the fast path, approximate beyond 2^53. */
  readonly unitsPerSecond: number;
  /** if_tsoffset: seconds added to every timestamp of the interface. */
  readonly offsetSeconds: number;

  /** 1e9 / unitsPerSecond; exact for 10^k (k <= 9) and any power of two. 0 selects the BigInt path. */
  private readonly nanosPerUnit: number;
  private readonly unitsPerSecondBig: bigint;

  /**
   * @param tsresolByte the if_tsresol option value: high bit clear = 10^-n s units, set = 2^-n s units.
   * @param offsetSeconds the if_tsoffset option value (signed seconds), 0 when absent.
   */
  constructor(tsresolByte: number = DEFAULT_TSRESOL_BYTE, offsetSeconds = 0) {
    const exponent = tsresolByte & 0x7f;
    const binary = (tsresolByte & 0x80) !== 0;
    this.unitsPerSecondBig = binary ? 1n << BigInt(exponent) : 10n ** BigInt(exponent);
    this.unitsPerSecond = Number(this.unitsPerSecondBig);
    this.offsetSeconds = offsetSeconds;
    // The fast path needs nanos = rem * nanosPerUnit to be exact: true for 10^k with k <= 9 (an integer
    // factor) and for 2^k with k <= 30 (rem < 2^30 times 1953125 * 2^(9-k) needs at most 51 bits).
    const fast = this.unitsPerSecond <= FAST_PATH_MAX_UNITS_PER_SECOND && (binary || exponent <= 9);
    this.nanosPerUnit = fast ? NANOS_PER_SECOND / this.unitsPerSecond : 0;
  }

  /** Converts the timestamp `high * 2^32 + low` (both unsigned 32-bit) into `seconds` and `nanos`. */
  convert(high: number, low: number): void {
    const nanosPerUnit = this.nanosPerUnit;
    if (nanosPerUnit === 0) {
      this.convertBig(high, low);
      return;
    }
    const unitsPerSecond = this.unitsPerSecond;
    let seconds: number;
    let rem: number;
    if (high < EXACT_HIGH_WORD_LIMIT) {
      // The whole count is exact as a double; the quotient's rounding cannot cross an integer because
      // its ulp is below 1 / unitsPerSecond here, and the remainder is recomputed exactly.
      const units = high * TWO_POW_32 + low;
      seconds = Math.floor(units / unitsPerSecond);
      rem = units - seconds * unitsPerSecond;
    } else {
      // Long division in 16-bit digits: every partial value stays below 2^46.
      const highQuotient = Math.floor(high / unitsPerSecond);
      let partial = (high - highQuotient * unitsPerSecond) * 65_536 + (low >>> 16);
      const midQuotient = Math.floor(partial / unitsPerSecond);
      partial = (partial - midQuotient * unitsPerSecond) * 65_536 + (low & 0xffff);
      const lowQuotient = Math.floor(partial / unitsPerSecond);
      rem = partial - lowQuotient * unitsPerSecond;
      seconds = highQuotient * TWO_POW_32 + midQuotient * 65_536 + lowQuotient;
    }
    this.seconds = seconds + this.offsetSeconds;
    this.nanos = Math.floor(rem * nanosPerUnit);
  }

  /** Resolutions finer than 2^-30 s or 10^-9 s: rare enough that a few BigInts per frame are fine. */
  private convertBig(high: number, low: number): void {
    const units = (BigInt(high) << 32n) | BigInt(low);
    const perSecond = this.unitsPerSecondBig;
    this.seconds = Number(units / perSecond) + this.offsetSeconds;
    this.nanos = Number(((units % perSecond) * 1_000_000_000n) / perSecond);
  }
}
