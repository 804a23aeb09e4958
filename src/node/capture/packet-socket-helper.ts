/**
 * Access to the AF_PACKET socket `cap` captures on, for what `cap` does not expose: the kernel's drop
 * counter (PACKET_STATISTICS), switching promiscuous mode back off, and checking a BPF filter before
 * a capture is opened.
 *
 * The socket is found from outside: its inode is the one /proc/net/packet lists for the interface that
 * was not there before `cap` opened it, and its fd is the /proc/self/fd entry that links to that inode.
 * The syscalls themselves need the small N-API addon in `native/` (built by `npm run build:native`);
 * when it has not been built, drops are reported as unknown (null) after a one-time warning.
 * SNIFFMESH_DISABLE_NATIVE_HELPER=1 makes it unavailable on purpose (to exercise that degraded mode).
 *
 * Why not `ss`/sock_diag: measured on kernel 6.18, the skmem drop counter (`d` in `ss -0 -e -m`) stays
 * 0 while PACKET_STATISTICS reports 840 of 1,000 packets dropped by a full TPACKET_V2 ring: tpacket_rcv
 * counts ring overflows only in the packet socket's own counter.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const NATIVE_DIR_NAME = 'native';
const NATIVE_BINDING_FILE = 'binding.gyp';
const NATIVE_ADDON_RELATIVE_PATH = 'build/Release/packet_socket_helper.node';
const PROC_NET_PACKET_PATH = '/proc/net/packet';
const PROC_SELF_FD_DIR = '/proc/self/fd';
const DISABLE_HELPER_ENV = 'SNIFFMESH_DISABLE_NATIVE_HELPER';

/** The functions `native/packet-socket-helper.c` exports. */
export interface NativePacketSocketHelper {
  /** Packets (drops included) and drops since the previous call; the kernel resets both on read. */
  readPacketStatistics(fd: number): [packets: number, drops: number];
  dropPromiscuousMembership(fd: number, interfaceIndex: number): void;
  /** null when libpcap compiles the filter for that DLT_* link type, else libpcap's message. */
  checkFilter(dataLinkType: number, snaplen: number, filter: string): string | null;
  /** Points fd 2 at /dev/null and returns a duplicate of the old fd 2 (for restoreStderr). */
  silenceStderr(): number;
  restoreStderr(savedFd: number): void;
  /** 0, 1 or 2: TPACKET_V1, V2 or V3, the ring layout of the packet socket `fd`. */
  packetSocketVersion(fd: number): number;
  /**
   * Whether `cap` (loaded from `capAddonPath`) asks libpcap for immediate mode in the opens that follow
   * (off: TPACKET_V3 ring; on: cap's own TPACKET_V2). false when it could not be changed.
   */
  setCapImmediateMode(capAddonPath: string, enabled: boolean): boolean;
}

let helperLoadAttempted = false;
let loadedHelper: NativePacketSocketHelper | null = null;
let helperLoadProblem = '';

function findRepositoryRoot(startDir: string): string | undefined {
  let dir = startDir;
  for (;;) {
    if (existsSync(path.join(dir, NATIVE_DIR_NAME, NATIVE_BINDING_FILE))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Path of the built addon, from src/ (tests) or dist/src/ (built) alike. */
export function nativeHelperPath(): string | undefined {
  const root = findRepositoryRoot(path.dirname(fileURLToPath(import.meta.url)));
  return root === undefined ? undefined : path.join(root, NATIVE_DIR_NAME, NATIVE_ADDON_RELATIVE_PATH);
}

/**
 * The native helper, or null when it is not built (then warns once per process). N-API is
 * context-aware, so unlike `cap` it loads in every thread that asks.
 */
export function loadPacketSocketHelper(): NativePacketSocketHelper | null {
  if (helperLoadAttempted) return loadedHelper;
  helperLoadAttempted = true;
  const addonPath = nativeHelperPath();
  if (process.env[DISABLE_HELPER_ENV] === '1') {
    helperLoadProblem = `disabled by ${DISABLE_HELPER_ENV}=1`;
  } else if (addonPath === undefined || !existsSync(addonPath)) {
    helperLoadProblem = `${addonPath ?? `${NATIVE_DIR_NAME}/${NATIVE_ADDON_RELATIVE_PATH}`} is not built`;
  } else {
    try {
      loadedHelper = createRequire(import.meta.url)(addonPath) as NativePacketSocketHelper;
    } catch (error) {
      helperLoadProblem = `${addonPath} does not load: ${(error as Error).message}`;
    }
  }
  if (loadedHelper === null) {
    process.emitWarning(
      `sniffmesh native packet-socket helper unavailable (${helperLoadProblem}; run npm run build:native): ` +
        'kernel drop counts are unknown, promiscuous mode cannot be switched off, filters are checked only by cap',
      { code: 'SNIFFMESH_NATIVE_HELPER_MISSING' },
    );
  }
  return loadedHelper;
}

/** Why the helper is unavailable ('' when it loaded or was not asked for yet). */
export function packetSocketHelperProblem(): string {
  return helperLoadProblem;
}

/** Socket inode -> interface index, for every packet socket of this network namespace. */
export function listPacketSockets(): Map<number, number> {
  const sockets = new Map<number, number>();
  let text: string;
  try {
    text = readFileSync(PROC_NET_PACKET_PATH, 'utf8');
  } catch {
    return sockets;
  }
  // Columns: sk RefCnt Type Proto Iface R Rmem User Inode
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const columns = lines[i].trim().split(/\s+/);
    if (columns.length < 9) continue;
    sockets.set(Number(columns[8]), Number(columns[4]));
  }
  return sockets;
}

/** The fd of this process that refers to the socket with that inode, or -1. */
export function findSocketFd(inode: number): number {
  const target = `socket:[${inode}]`;
  let entries: string[];
  try {
    entries = readdirSync(PROC_SELF_FD_DIR);
  } catch {
    return -1;
  }
  for (const entry of entries) {
    try {
      if (readlinkSync(`${PROC_SELF_FD_DIR}/${entry}`) === target) return Number(entry);
    } catch {
      // The fd was closed while we looked (readdir's own fd, a socket closed by another thread).
    }
  }
  return -1;
}

/**
 * The fd of the packet socket bound to `interfaceIndex` that is not among `socketsBefore` (taken just
 * before `cap` opened its capture). -1 when there is not exactly one such socket.
 */
export function findNewPacketSocketFd(
  socketsBefore: ReadonlyMap<number, number>,
  interfaceIndex: number,
): number {
  let found = -1;
  for (const [inode, index] of listPacketSockets()) {
    if (index !== interfaceIndex || socketsBefore.has(inode)) continue;
    const fd = findSocketFd(inode);
    if (fd < 0) continue; // Another process's socket in this namespace.
    if (found >= 0) return -1; // Ambiguous: another capture opened at the same moment.
    found = fd;
  }
  return found;
}
