/**
 * Two network namespaces joined by a veth pair, for live-capture tests.
 *
 * Names are unique per test process (sm<pid><n>a / sm<pid><n>b), addresses come from 198.18.0.0/15
 * (the benchmarking range) and exist only inside the two namespaces: nothing routes outside. Every
 * namespace created here is deleted by `deleteAllNamespaces()` (call it from afterAll) and, whatever
 * happens, when the process exits. Needs root (CAP_SYS_ADMIN + CAP_NET_ADMIN) and iproute2.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';

/** Interface names are limited to 15 bytes (IFNAMSIZ - 1): "sm" + pid (<= 7 digits) + counter + side. */
const NAME_PREFIX = 'sm';
const SENDER_ADDRESS = '198.18.0.1';
const RECEIVER_ADDRESS = '198.18.0.2';
const PREFIX_LENGTH = 30;

export interface VethNamespacePair {
  senderNamespace: string;
  receiverNamespace: string;
  /** The veth end inside the sender namespace. */
  senderInterface: string;
  /** The veth end inside the receiver namespace (where captures run). */
  receiverInterface: string;
  senderAddress: string;
  receiverAddress: string;
}

const createdNamespaces = new Set<string>();
let namespaceCounter = 0;
let exitHookInstalled = false;

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function inNamespace(namespace: string, ...command: string[]): string {
  return ip('netns', 'exec', namespace, ...command);
}

function macAddress(namespace: string, interfaceName: string): string {
  return inNamespace(namespace, 'cat', `/sys/class/net/${interfaceName}/address`).trim();
}

/** Deletes one namespace (and with it its veth end); ignores one that is already gone. */
export function deleteNamespace(namespace: string): void {
  try {
    ip('netns', 'del', namespace);
  } catch {
    // Already deleted (or never fully created).
  }
  createdNamespaces.delete(namespace);
}

export function deleteAllNamespaces(): void {
  for (const namespace of [...createdNamespaces]) deleteNamespace(namespace);
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', deleteAllNamespaces);
}

/**
 * Creates the two namespaces, the veth pair between them, addresses, and static neighbour entries
 * (so the first datagrams are not held back, or dropped, waiting for ARP). IPv6 is off in both so
 * that no router/neighbour solicitations appear on the link.
 */
export function createVethNamespacePair(): VethNamespacePair {
  installExitHook();
  namespaceCounter++;
  const base = `${NAME_PREFIX}${process.pid}${namespaceCounter}`;
  const pair: VethNamespacePair = {
    senderNamespace: `${base}a`,
    receiverNamespace: `${base}b`,
    senderInterface: `${base}a`,
    receiverInterface: `${base}b`,
    senderAddress: SENDER_ADDRESS,
    receiverAddress: RECEIVER_ADDRESS,
  };
  try {
    for (const namespace of [pair.senderNamespace, pair.receiverNamespace]) {
      ip('netns', 'add', namespace);
      createdNamespaces.add(namespace);
      inNamespace(namespace, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1');
      inNamespace(namespace, 'sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1');
      ip('-n', namespace, 'link', 'set', 'lo', 'up');
    }
    ip(
      'link',
      'add',
      pair.senderInterface,
      'netns',
      pair.senderNamespace,
      'type',
      'veth',
      'peer',
      'name',
      pair.receiverInterface,
      'netns',
      pair.receiverNamespace,
    );
    const ends: [string, string, string][] = [
      [pair.senderNamespace, pair.senderInterface, pair.senderAddress],
      [pair.receiverNamespace, pair.receiverInterface, pair.receiverAddress],
    ];
    for (const [namespace, interfaceName, address] of ends) {
      ip('-n', namespace, 'addr', 'add', `${address}/${PREFIX_LENGTH}`, 'dev', interfaceName);
      ip('-n', namespace, 'link', 'set', interfaceName, 'up');
    }
    const senderMac = macAddress(pair.senderNamespace, pair.senderInterface);
    const receiverMac = macAddress(pair.receiverNamespace, pair.receiverInterface);
    ip(
      '-n',
      pair.senderNamespace,
      'neigh',
      'replace',
      pair.receiverAddress,
      'lladdr',
      receiverMac,
      'dev',
      pair.senderInterface,
      'nud',
      'permanent',
    );
    ip(
      '-n',
      pair.receiverNamespace,
      'neigh',
      'replace',
      pair.senderAddress,
      'lladdr',
      senderMac,
      'dev',
      pair.receiverInterface,
      'nud',
      'permanent',
    );
  } catch (error) {
    deleteNamespace(pair.senderNamespace);
    deleteNamespace(pair.receiverNamespace);
    throw error;
  }
  return pair;
}

/** Starts a command inside a namespace (`ip netns exec` replaces itself with the command: pid is the command's). */
export function spawnInNamespace(namespace: string, command: string, args: readonly string[]): ChildProcess {
  return spawn('ip', ['netns', 'exec', namespace, command, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
}

export interface CommandResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Waits for a spawned command to end and collects its output. */
export function collectOutput(child: ChildProcess): Promise<CommandResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (exitCode, signal) => resolve({ exitCode, signal, stdout, stderr }));
  });
}

/** Runs a command inside a namespace to completion. */
export function runInNamespace(
  namespace: string,
  command: string,
  args: readonly string[],
): Promise<CommandResult> {
  const child = spawnInNamespace(namespace, command, args);
  child.stdin?.end();
  return collectOutput(child);
}

const SEND_UDP_SCRIPT = `
const dgram = require('node:dgram');
const [host, port, ...sizes] = process.argv.slice(1);
const socket = dgram.createSocket('udp4');
let next = 0;
const sendNext = (error) => {
  if (error) { console.error(error.message); process.exit(1); }
  if (next === sizes.length) { socket.close(); return; }
  socket.send(Buffer.alloc(Number(sizes[next++]), 0x5a), Number(port), host, sendNext);
};
sendNext();
`;

/**
 * Sends one UDP datagram per payload size, in order, from the sender namespace to the receiver's address
 * and `port` (node's dgram: exactly known frame sizes, Ethernet + IPv4 + UDP = 42 bytes of headers).
 */
export async function sendUdpDatagrams(
  pair: VethNamespacePair,
  port: number,
  payloadSizes: readonly number[],
): Promise<void> {
  const result = await runInNamespace(pair.senderNamespace, 'node', [
    '-e',
    SEND_UDP_SCRIPT,
    pair.receiverAddress,
    String(port),
    ...payloadSizes.map(String),
  ]);
  if (result.exitCode !== 0) throw new Error(`sending datagrams failed: ${result.stderr}`);
}
