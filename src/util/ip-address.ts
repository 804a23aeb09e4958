/**
 * IP addresses as 32-bit words in network order (the decoder's representation) and their canonical text:
 * dotted quad for IPv4, RFC 5952 for IPv6 (lower case, no leading zeros, the longest run of two or more
 * zero groups as "::", the first such run on a tie), which is how tshark prints them.
 * Formatting allocates strings, so it is for answers only, never for the per-packet path.
 */

export function formatIpv4(word: number): string {
  return `${word >>> 24}.${(word >>> 16) & 255}.${(word >>> 8) & 255}.${word & 255}`;
}

export function formatIpv6(w0: number, w1: number, w2: number, w3: number): string {
  const groups = [
    w0 >>> 16,
    w0 & 0xffff,
    w1 >>> 16,
    w1 & 0xffff,
    w2 >>> 16,
    w2 & 0xffff,
    w3 >>> 16,
    w3 & 0xffff,
  ];
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestLength < 2) bestStart = -1;
  // IPv4-compatible (::a.b.c.d) and IPv4-mapped (::ffff:a.b.c.d) addresses end in dotted quad, as
  // glibc's inet_ntop and tshark print them.
  if (bestStart === 0 && (bestLength === 6 || (bestLength === 5 && groups[5] === 0xffff))) {
    return `${bestLength === 5 ? '::ffff:' : '::'}${formatIpv4(w3 >>> 0)}`;
  }
  let text = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      text += i === 0 ? '::' : ':';
      i += bestLength - 1;
      continue;
    }
    text += groups[i].toString(16);
    if (i < 7) text += ':';
  }
  return text;
}

/** Formats 4 words (IPv4 uses word 0 only) for the given IP version. */
export function formatAddress(version: number, w0: number, w1: number, w2: number, w3: number): string {
  return version === 4 ? formatIpv4(w0) : formatIpv6(w0, w1, w2, w3);
}

/** Parses an IPv4 or IPv6 address into version and 4 words; null when it is not an address. */
export function parseAddress(text: string): { version: 4 | 6; words: Uint32Array } | null {
  const words = new Uint32Array(4);
  // Decimal octets without leading zeros: "010.0.0.1" is octal to inet_aton and invalid to inet_pton.
  if (/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(text)) {
    const parts = text.split('.').map(Number);
    words[0] = ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
    return { version: 4, words };
  }
  if (!text.includes(':')) return null;
  let head = text;
  let embeddedV4: number[] | null = null;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = parseAddress(tail);
    if (v4 === null || v4.version !== 4) return null;
    embeddedV4 = [v4.words[0] >>> 16, v4.words[0] & 0xffff];
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split('::');
  if (halves.length > 2) return null;
  const parseGroups = (s: string): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  const left = parseGroups(halves[0]);
  const right = halves.length === 2 ? parseGroups(halves[1]) : [];
  if (left === null || right === null) return null;
  let groups: number[];
  if (halves.length === 2) {
    const missing = 8 - left.length - right.length;
    if (missing < 1) return null;
    groups = [...left, ...new Array<number>(missing).fill(0), ...right];
  } else {
    groups = left;
  }
  if (groups.length !== 8) return null;
  if (embeddedV4 !== null) {
    groups[6] = embeddedV4[0];
    groups[7] = embeddedV4[1];
  }
  for (let w = 0; w < 4; w++) words[w] = ((groups[2 * w] << 16) | groups[2 * w + 1]) >>> 0;
  return { version: 6, words };
}

/**
 * True when `host` can only ever mean this machine: an address in 127.0.0.0/8, ::1 (also as
 * ::ffff:127.x), or the name `localhost`. Any other name is not, whatever it resolves to today: a
 * listener's reach must not depend on a DNS answer.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare.toLowerCase() === 'localhost') return true;
  const parsed = parseAddress(bare);
  if (parsed === null) return false;
  const [w0, w1, w2, w3] = parsed.words as unknown as [number, number, number, number];
  if (parsed.version === 4) return w0 >>> 24 === 127;
  if (w0 === 0 && w1 === 0 && w2 === 0 && w3 === 1) return true;
  return w0 === 0 && w1 === 0 && w2 === 0xffff && w3 >>> 24 === 127;
}
