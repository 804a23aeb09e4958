/**
 * Counts distinct directional 5-tuples (protocol, source host, destination host, source port,
 * destination port) and how many of them carry a single packet. The traffic model hands out ports so
 * that 5-tuples rarely repeat, but "rarely" is not a ground truth: this table makes the count exact.
 * Called once per flow of a conversation, never per packet. ICMP flows use ports 0, 0.
 */

const INITIAL_SLOTS = 1 << 16;
const WORDS_PER_KEY = 4;

export class FlowTally {
  private slotCount = INITIAL_SLOTS;
  private keys = new Uint32Array(INITIAL_SLOTS * WORDS_PER_KEY);
  /** Packets per slot; 0 marks an empty slot (a flow always has at least one packet). */
  private packets = new Uint32Array(INITIAL_SLOTS);
  private used = 0;

  /** Adds `packetCount` (>= 1) packets to the flow, creating it when new. */
  add(
    protocol: number,
    sourceHost: number,
    destinationHost: number,
    sourcePort: number,
    destinationPort: number,
    packetCount: number,
  ): void {
    if (packetCount <= 0) return;
    const portWord = ((sourcePort << 16) | destinationPort) >>> 0;
    const mask = this.slotCount - 1;
    let slot = this.hash(protocol, sourceHost, destinationHost, portWord) & mask;
    for (;;) {
      const count = this.packets[slot];
      if (count === 0) {
        const base = slot * WORDS_PER_KEY;
        this.keys[base] = protocol;
        this.keys[base + 1] = sourceHost;
        this.keys[base + 2] = destinationHost;
        this.keys[base + 3] = portWord;
        this.packets[slot] = packetCount;
        this.used++;
        if (this.used * 2 > this.slotCount) this.grow();
        return;
      }
      const base = slot * WORDS_PER_KEY;
      if (
        this.keys[base] === protocol &&
        this.keys[base + 1] === sourceHost &&
        this.keys[base + 2] === destinationHost &&
        this.keys[base + 3] === portWord
      ) {
        this.packets[slot] = count + packetCount;
        return;
      }
      slot = (slot + 1) & mask;
    }
  }

  get distinctFlows(): number {
    return this.used;
  }

  singlePacketFlows(): number {
    let singles = 0;
    for (let slot = 0; slot < this.slotCount; slot++) if (this.packets[slot] === 1) singles++;
    return singles;
  }

  /** Share of all flow packets carried by the `fraction` largest flows (e.g. 0.01 = top 1 %). */
  topFlowPacketShare(fraction: number): number {
    const sizes: number[] = [];
    let total = 0;
    for (let slot = 0; slot < this.slotCount; slot++) {
      const count = this.packets[slot];
      if (count !== 0) {
        sizes.push(count);
        total += count;
      }
    }
    sizes.sort((a, b) => b - a);
    const top = Math.max(1, Math.round(sizes.length * fraction));
    let topTotal = 0;
    for (let index = 0; index < top && index < sizes.length; index++) topTotal += sizes[index];
    return total === 0 ? 0 : topTotal / total;
  }

  private hash(protocol: number, sourceHost: number, destinationHost: number, portWord: number): number {
    let h = Math.imul(protocol ^ 0x9e3779b9, 0x85ebca6b);
    h = Math.imul(h ^ sourceHost ^ (h >>> 15), 0xc2b2ae35);
    h = Math.imul(h ^ destinationHost ^ (h >>> 13), 0x27d4eb2f);
    h = Math.imul(h ^ portWord ^ (h >>> 16), 0x165667b1);
    return (h ^ (h >>> 15)) >>> 0;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldPackets = this.packets;
    const oldSlots = this.slotCount;
    this.slotCount = oldSlots * 2;
    this.keys = new Uint32Array(this.slotCount * WORDS_PER_KEY);
    this.packets = new Uint32Array(this.slotCount);
    const mask = this.slotCount - 1;
    for (let oldSlot = 0; oldSlot < oldSlots; oldSlot++) {
      const count = oldPackets[oldSlot];
      if (count === 0) continue;
      const oldBase = oldSlot * WORDS_PER_KEY;
      const protocol = oldKeys[oldBase];
      const sourceHost = oldKeys[oldBase + 1];
      const destinationHost = oldKeys[oldBase + 2];
      const portWord = oldKeys[oldBase + 3];
      let slot = this.hash(protocol, sourceHost, destinationHost, portWord) & mask;
      while (this.packets[slot] !== 0) slot = (slot + 1) & mask;
      const base = slot * WORDS_PER_KEY;
      this.keys[base] = protocol;
      this.keys[base + 1] = sourceHost;
      this.keys[base + 2] = destinationHost;
      this.keys[base + 3] = portWord;
      this.packets[slot] = count;
    }
  }
}
