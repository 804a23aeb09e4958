/**
 * The traffic plan in columns: one row per conversation, one row per packet. The frame encoder turns a
 * packet row plus its conversation row into frame bytes, so a row holds only what varies per packet
 * (direction, kind of packet, payload size, time): about 11 bytes per packet instead of an object.
 */

/** What a packet is; with the conversation's protocol this fixes every header field. */
export const PacketType = {
  tcpSyn: 0,
  tcpSynAck: 1,
  tcpAck: 2,
  tcpData: 3,
  tcpFinAck: 4,
  tcpRstAck: 5,
  udp: 6,
  echoRequest: 7,
  echoReply: 8,
  arpRequest: 9,
  arpReply: 10,
} as const;

/** IP protocol numbers; 0 marks an ARP "conversation". */
export const Protocol = { arp: 0, icmp: 1, tcp: 6, udp: 17, icmpv6: 58 } as const;

/** Link-layer tagging of a conversation's frames. */
export const VlanMode = { untagged: 0, dot1q: 1, qinq: 2 } as const;

/** Packet sent by the conversation's client (0) or by its server (1). */
export const FROM_CLIENT = 0;
export const FROM_SERVER = 1;

const INITIAL_CONVERSATIONS = 1 << 16;
const INITIAL_PACKETS = 1 << 20;

export class ConversationTable {
  count = 0;
  client: Uint32Array = new Uint32Array(INITIAL_CONVERSATIONS);
  server: Uint32Array = new Uint32Array(INITIAL_CONVERSATIONS);
  clientPort: Uint16Array = new Uint16Array(INITIAL_CONVERSATIONS);
  serverPort: Uint16Array = new Uint16Array(INITIAL_CONVERSATIONS);
  protocol: Uint8Array = new Uint8Array(INITIAL_CONVERSATIONS);
  vlanMode: Uint8Array = new Uint8Array(INITIAL_CONVERSATIONS);
  /** Outer (QinQ) or only (802.1Q) VLAN id; inner id of QinQ in `innerVlanId`. */
  vlanId: Uint16Array = new Uint16Array(INITIAL_CONVERSATIONS);
  innerVlanId: Uint16Array = new Uint16Array(INITIAL_CONVERSATIONS);

  add(client: number, server: number, clientPort: number, serverPort: number, protocol: number): number {
    if (this.count === this.client.length) this.grow();
    const id = this.count++;
    this.client[id] = client;
    this.server[id] = server;
    this.clientPort[id] = clientPort;
    this.serverPort[id] = serverPort;
    this.protocol[id] = protocol;
    return id;
  }

  setVlan(id: number, mode: number, vlanId: number, innerVlanId: number): void {
    this.vlanMode[id] = mode;
    this.vlanId[id] = vlanId;
    this.innerVlanId[id] = innerVlanId;
  }

  private grow(): void {
    const capacity = this.client.length * 2;
    this.client = grownUint32(this.client, capacity);
    this.server = grownUint32(this.server, capacity);
    this.clientPort = grownUint16(this.clientPort, capacity);
    this.serverPort = grownUint16(this.serverPort, capacity);
    this.protocol = grownUint8(this.protocol, capacity);
    this.vlanMode = grownUint8(this.vlanMode, capacity);
    this.vlanId = grownUint16(this.vlanId, capacity);
    this.innerVlanId = grownUint16(this.innerVlanId, capacity);
  }
}

export class PacketTable {
  count = 0;
  conversation: Uint32Array = new Uint32Array(INITIAL_PACKETS);
  /** bit 0: direction (FROM_CLIENT / FROM_SERVER); bits 1..7: PacketType. */
  meta: Uint8Array = new Uint8Array(INITIAL_PACKETS);
  /** Bytes after the transport header (ICMP: after the 8-byte echo header). */
  payloadBytes: Uint16Array = new Uint16Array(INITIAL_PACKETS);
  /** Microseconds since the start of the capture (600 s fit easily in 32 bits). */
  timeMicros: Uint32Array = new Uint32Array(INITIAL_PACKETS);

  add(conversation: number, direction: number, type: number, payloadBytes: number, timeMicros: number): void {
    if (this.count === this.conversation.length) this.grow();
    const row = this.count++;
    this.conversation[row] = conversation;
    this.meta[row] = (type << 1) | direction;
    this.payloadBytes[row] = payloadBytes;
    this.timeMicros[row] = timeMicros;
  }

  private grow(): void {
    const capacity = this.conversation.length * 2;
    this.conversation = grownUint32(this.conversation, capacity);
    this.meta = grownUint8(this.meta, capacity);
    this.payloadBytes = grownUint16(this.payloadBytes, capacity);
    this.timeMicros = grownUint32(this.timeMicros, capacity);
  }
}

function grownUint32(old: Uint32Array, capacity: number): Uint32Array {
  const grown = new Uint32Array(capacity);
  grown.set(old);
  return grown;
}

function grownUint16(old: Uint16Array, capacity: number): Uint16Array {
  const grown = new Uint16Array(capacity);
  grown.set(old);
  return grown;
}

function grownUint8(old: Uint8Array, capacity: number): Uint8Array {
  const grown = new Uint8Array(capacity);
  grown.set(old);
  return grown;
}
