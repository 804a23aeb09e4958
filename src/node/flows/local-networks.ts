import { UsageError } from '../../util/errors.js';
import { parseAddress } from '../../util/ip-address.js';

/** One CIDR block in the decoder's word representation. */
interface Cidr {
  version: 4 | 6;
  words: Uint32Array;
  prefixLength: number;
  text: string;
}

/**
 * The set of addresses this node considers its own: its interface addresses (each as a /32 or /128)
 * and any `--local-net CIDR` blocks. A flow whose source is local was sent by this host; one whose
 * destination is local was received. Lookups happen once per new flow, not per packet, so a short
 * linear list is the right structure (hosts have a handful of addresses).
 */
export class LocalNetworks {
  private readonly blocks: Cidr[] = [];

  /** Adds "10.0.0.0/8", "2001:db8::/32" or a bare address (host route). Throws UsageError on bad text. */
  add(cidr: string): void {
    const slash = cidr.indexOf('/');
    const addressText = slash === -1 ? cidr : cidr.slice(0, slash);
    const parsed = parseAddress(addressText);
    if (parsed === null) throw new UsageError(`--local-net ${cidr}: '${addressText}' is not an IP address`);
    const maxPrefix = parsed.version === 4 ? 32 : 128;
    const prefixText = slash === -1 ? String(maxPrefix) : cidr.slice(slash + 1);
    const prefixLength = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
    if (!(prefixLength >= 0 && prefixLength <= maxPrefix)) {
      throw new UsageError(`--local-net ${cidr}: prefix length must be 0..${maxPrefix}`);
    }
    this.blocks.push({ version: parsed.version, words: parsed.words, prefixLength, text: cidr });
  }

  get size(): number {
    return this.blocks.length;
  }

  describe(): string[] {
    return this.blocks.map((b) => b.text);
  }

  /** True when the address (decoder words) lies in one of the blocks. */
  contains(version: number, words: ArrayLike<number>): boolean {
    for (const block of this.blocks) {
      if (block.version !== version) continue;
      let remaining = block.prefixLength;
      let match = true;
      for (let w = 0; w < 4 && remaining > 0; w++) {
        const bits = Math.min(remaining, 32);
        const mask = bits === 32 ? 0xffffffff : ~(0xffffffff >>> bits) >>> 0;
        if (((words[w] ^ block.words[w]) & mask) >>> 0 !== 0) {
          match = false;
          break;
        }
        remaining -= bits;
      }
      if (match) return true;
    }
    return false;
  }
}
