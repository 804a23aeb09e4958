/**
 * Wire lengths (pcap and pcapng orig_len) are unsigned 32-bit numbers, counted as the file says them,
 * also when below the captured length: checked against tshark (frame.len) on crafted files in every
 * variant (classic pcap and pcapng EPB and SPB, both byte orders), through both counting paths: the
 * agent's (FrameAccountant, as `agent --pcap` runs it) and `sniffmesh analyze` (the two-thread offline
 * path, built CLI).
 *
 * tshark 4.0 saturates frame.len at 2^31 - 1 (it prints 2147483647 for every orig_len at or above it);
 * libpcap and tcpdump read the field as the unsigned number it is, and so do we (README, "What is
 * counted"). Where tshark prints the saturated value the expectation is the number written.
 */
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { AgentProcess } from '../../../cluster/local/agent-process.js';
import { waitUntil } from '../../../cluster/local/wait-until.js';
import { openCaptureFile } from '../../../src/node/capture/capture-file-source.js';
import { FlowStore } from '../../../src/node/flows/flow-store.js';
import { queryTop } from '../../../src/node/flows/top-query.js';
import { FrameAccountant } from '../../../src/node/frame-accountant.js';
import { CaptureScratch } from '../../helpers/capture-file-runner.js';
import { buildPcap, PcapngBuilder } from '../../helpers/capture-writer.js';
import { requireBuiltCli } from '../../helpers/repo-paths.js';
import { tsharkAvailable, tsharkFrameList } from '../../helpers/tshark-frame-list.js';
import { type HostCounts, tsharkHostCounts } from '../../helpers/tshark-oracle.js';
import { freeUdpPort } from '../../membership/free-udp-port.js';

const execFileAsync = promisify(execFile);
const TSHARK_FRAME_LEN_MAX = 2 ** 31 - 1;
const EPOCH_SECOND = 1_700_000_000;
/** Bytes of an Ethernet + IPv4 header: every frame below carries exactly this much. */
const CAPTURED_BYTES = 34;

/** The orig_len values under test, each on a frame of its own between hosts of its own. */
const ORIGINAL_LENGTHS = [
  60, // ordinary: above the captured 34
  CAPTURED_BYTES, // equal
  20, // below the captured length: tshark's frame.len is still 20
  0, // zero: a frame that "had no bytes on the wire", as some writers put it
  2 ** 31 - 2,
  2 ** 31 - 1,
  2 ** 31, // read as -2147483648 by analyze before
  2 ** 31 + 12_345,
  3_000_000_000,
  2 ** 32 - 1, // read as -1 by analyze before ("-1 B")
];

/** Ethernet + IPv4 header, 10.0.<i>.1 -> 10.0.<i>.2, TCP; the IP total length is 20 (header only). */
function frameFor(index: number): Buffer {
  const frame = Buffer.alloc(CAPTURED_BYTES);
  frame.writeUInt16BE(0x0800, 12);
  const ip = 14;
  frame[ip] = 0x45;
  frame.writeUInt16BE(20, ip + 2);
  frame[ip + 8] = 64;
  frame[ip + 9] = 6;
  frame.set([10, 0, index, 1], ip + 12);
  frame.set([10, 0, index, 2], ip + 16);
  return frame;
}

const scratch = new CaptureScratch();
afterAll(() => scratch.cleanup());

type Variant = { name: string; bytes: () => Buffer; simple: boolean };

const VARIANTS: Variant[] = [true, false].flatMap((littleEndian) => {
  const order = littleEndian ? 'little-endian' : 'big-endian';
  return [
    {
      name: `pcap, ${order}`,
      simple: false,
      bytes: () =>
        buildPcap({
          littleEndian,
          records: ORIGINAL_LENGTHS.map((originalLength, i) => ({
            seconds: EPOCH_SECOND,
            fraction: i,
            data: frameFor(i),
            originalLength,
          })),
        }).bytes,
    },
    {
      name: `pcapng enhanced packet blocks, ${order}`,
      simple: false,
      bytes: () => {
        const builder = new PcapngBuilder().section({ littleEndian }).interface({ linkType: 1 });
        ORIGINAL_LENGTHS.forEach((originalLength, i) => {
          const timestamp = BigInt(EPOCH_SECOND) * 1_000_000n + BigInt(i);
          builder.enhancedPacket({ interfaceIndex: 0, timestamp, data: frameFor(i), originalLength });
        });
        return builder.build().bytes;
      },
    },
    {
      // A simple packet block holds min(orig_len, the interface's snap length) bytes: with a snap
      // length of 34, every frame of orig_len 34 or more is the same 34 bytes, as tshark requires.
      name: `pcapng simple packet blocks, ${order}`,
      simple: true,
      bytes: () => {
        const builder = new PcapngBuilder()
          .section({ littleEndian })
          .interface({ linkType: 1, snapLength: CAPTURED_BYTES });
        ORIGINAL_LENGTHS.forEach((originalLength, i) => {
          const data = frameFor(i).subarray(0, Math.min(originalLength, CAPTURED_BYTES));
          builder.simplePacket({ data, originalLength });
        });
        return builder.build().bytes;
      },
    },
  ];
});

/** tshark's per-host view with its saturated frame.len replaced by the number written. */
function expectedHosts(tshark: HostCounts): HostCounts {
  const expected: HostCounts = new Map();
  for (const [address, counts] of tshark) {
    const index = Number(address.split('.')[2]);
    const written = ORIGINAL_LENGTHS[index] as number;
    // One frame per host: its bytes are the frame's length.
    expect(counts.packets, address).toBe(1);
    if (counts.bytes === TSHARK_FRAME_LEN_MAX && written > TSHARK_FRAME_LEN_MAX) {
      expected.set(address, { packets: 1, bytes: written });
    } else {
      expect(counts.bytes, `${address}: tshark's frame.len is the orig_len written`).toBe(written);
      expected.set(address, counts);
    }
  }
  return expected;
}

function rowsToHosts(rows: ReadonlyArray<{ key: string; packets: number; bytes: number }>): HostCounts {
  return new Map(rows.map((row) => [row.key, { packets: row.packets, bytes: row.bytes }]));
}

/** What `agent --pcap` counts: the file source into a FrameAccountant, as the capture process runs it. */
async function agentPathHosts(file: string): Promise<{ hosts: HostCounts; totalBytes: number }> {
  const store = new FlowStore({ maxFlows: 1024 });
  await openCaptureFile(file).run(new FrameAccountant(store));
  store.closeAll();
  const report = queryTop(store, { group: 'host', by: 'bytes', limit: 0, windowSeconds: null });
  return { hosts: rowsToHosts(report.rows), totalBytes: report.totals.bytes };
}

async function analyzeHosts(file: string): Promise<{ hosts: HostCounts; totalBytes: number }> {
  const { stdout } = await execFileAsync(process.execPath, [
    requireBuiltCli(),
    'analyze',
    '--json',
    '-g',
    'host',
    '-n',
    '0',
    file,
  ]);
  const report = JSON.parse(stdout) as {
    rows: Array<{ key: string; packets: number; bytes: number }>;
    totals: { bytes: number };
  };
  return { hosts: rowsToHosts(report.rows), totalBytes: report.totals.bytes };
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

describe.skipIf(!tsharkAvailable())(
  'wire lengths agree with tshark frame.len, read as unsigned 32-bit',
  () => {
    for (const variant of VARIANTS) {
      it(`${variant.name}: agent path and analyze count orig_len, per frame and per host`, async () => {
        const file = scratch.write(variant.bytes(), `${variant.name.replace(/\W+/g, '-')}.cap`);
        const [frames, tshark, agent, analyze] = await Promise.all([
          tsharkFrameList(file),
          tsharkHostCounts(file),
          agentPathHosts(file),
          analyzeHosts(file),
        ]);
        expect(frames.exitCode, frames.complaint).toBe(0);
        expect(frames.frames.map((f) => f.originalLength)).toEqual(
          ORIGINAL_LENGTHS.map((length) => Math.min(length, TSHARK_FRAME_LEN_MAX)),
        );
        const expected = expectedHosts(tshark.hosts);
        // A simple packet block captures min(orig_len, its data): one of 0 or 20 bytes holds no IP header.
        const ipFrames = variant.simple
          ? ORIGINAL_LENGTHS.filter((length) => length >= CAPTURED_BYTES).length
          : ORIGINAL_LENGTHS.length;
        expect(expected.size).toBe(2 * ipFrames);
        expect(agent.hosts).toEqual(expected);
        expect(analyze.hosts).toEqual(expected);
        // Totals include the frames without an IP header, at their orig_len too.
        expect(agent.totalBytes).toBe(sum(ORIGINAL_LENGTHS));
        expect(analyze.totalBytes).toBe(sum(ORIGINAL_LENGTHS));
      });
    }
  },
);

async function freeTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe.skipIf(!tsharkAvailable())('sniffmesh agent --pcap, asked with sniffmesh top', () => {
  it('answers the same unsigned orig_len bytes per host as tshark (pcap and pcapng, big-endian)', async () => {
    for (const variant of VARIANTS.filter((v) => v.name.endsWith('big-endian') && !v.simple)) {
      const file = scratch.write(variant.bytes(), `agent-${variant.name.replace(/\W+/g, '-')}.cap`);
      const expected = expectedHosts((await tsharkHostCounts(file)).hosts);
      const grpc = `127.0.0.1:${await freeTcpPort()}`;
      const agent = new AgentProcess({
        name: 'lengths',
        gossip: `127.0.0.1:${await freeUdpPort()}`,
        extraArgs: ['--capture', '--pcap', file, '--replay-speed', '0', '--grpc', grpc],
      });
      try {
        await waitUntil(() => agent.events.some((e) => e.event === 'started'), 10_000, 'agent started');
        let report: {
          rows: Array<{ key: string; packets: number; bytes: number }>;
          totals: { packets: number };
        };
        // The replay takes a moment; its last second closes a second later.
        const deadline = Date.now() + 15_000;
        for (;;) {
          const { stdout } = await execFileAsync(process.execPath, [
            requireBuiltCli(),
            'top',
            '--node',
            grpc,
            '--local',
            '--json',
            '-g',
            'host',
            '-n',
            '1000',
          ]);
          report = JSON.parse(stdout);
          if (report.totals.packets === ORIGINAL_LENGTHS.length || Date.now() > deadline) break;
          await new Promise((resolve) => setTimeout(resolve, 300));
        }
        expect(rowsToHosts(report.rows), variant.name).toEqual(expected);
      } finally {
        agent.signal('SIGKILL');
        await agent.exited;
      }
    }
  }, 60_000);
});
