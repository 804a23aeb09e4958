import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { declaredLinkTypes } from '../helpers/capture-link-types.js';
import { CLI_PATH, requireBuiltCli, TCPDUMP_CORPUS_DIR } from '../helpers/repo-paths.js';
import { diffHostCounts, type HostCounts, tsharkHostCounts } from '../helpers/tshark-oracle.js';

const execFileAsync = promisify(execFile);

/** Link types sniffmesh decodes (src/node/decode/link-types.ts), written out independently here. */
const SUPPORTED_LINK_TYPES = new Set([0, 1, 9, 12, 14, 50, 101, 104, 108, 113, 228, 229, 276]);

/**
 * Files whose per-host counts differ from tshark by definition, with the reason. Each entry is pinned by
 * its own test below. Empty today: every difference found so far was a decoder gap and got fixed
 * (MACsec, NSH, Arista timestamps, PPP, MPLS over PPP).
 */
const DEFINITIONAL_DIFFERENCES = new Map<string, string>();

interface AnalyzeJson {
  rows: { key: string; packets: number; bytes: number }[];
  totals: { packets: number; bytes: number };
  window: { from: number | null; to: number | null };
}

async function analyzeJson(file: string, extraArgs: string[] = []): Promise<AnalyzeJson | null> {
  try {
    const { stdout } = await execFileAsync(
      'node',
      [CLI_PATH, 'analyze', file, '--group', 'host', '--limit', '0', '--json', ...extraArgs],
      { maxBuffer: 256 * 1024 * 1024 },
    );
    return JSON.parse(stdout) as AnalyzeJson;
  } catch (error) {
    // Exit 1 on a damaged file: stdout still holds the report of every frame before the damage.
    const stdout = (error as { stdout?: string }).stdout ?? '';
    return stdout.trim() === '' ? null : (JSON.parse(stdout) as AnalyzeJson);
  }
}

function toHostCounts(json: AnalyzeJson | null): HostCounts {
  const hosts: HostCounts = new Map();
  for (const row of json?.rows ?? []) hosts.set(row.key, { packets: row.packets, bytes: row.bytes });
  return hosts;
}

/** Runs `task` over `items` with at most `limit` at a time (the machine has 2 cores). */
async function mapLimited<T, R>(items: T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i]);
    }
  });
  await Promise.all(workers);
  return results;
}

const corpus = readdirSync(TCPDUMP_CORPUS_DIR)
  .filter((name) => name !== 'LICENSE')
  .sort()
  .map((name) => path.join(TCPDUMP_CORPUS_DIR, name));
const inScope = corpus.filter((file) => {
  const types = declaredLinkTypes(file);
  return types.length > 0 && types.every((t) => SUPPORTED_LINK_TYPES.has(t));
});

describe('per-host counts agree with tshark on the tcpdump test corpus', () => {
  it('every file with a supported link type matches tshark frame for frame and byte for byte', async () => {
    requireBuiltCli();
    expect(inScope.length).toBeGreaterThan(250);
    const outcomes = await mapLimited(inScope, 2, async (file) => {
      const [ours, oracle] = await Promise.all([analyzeJson(file), tsharkHostCounts(file)]);
      return { file: path.basename(file), diff: diffHostCounts(toHostCounts(ours), oracle.hosts) };
    });
    const mismatches = outcomes.filter((o) => o.diff.length > 0 && !DEFINITIONAL_DIFFERENCES.has(o.file));
    const matched = outcomes.filter((o) => o.diff.length === 0).length;
    console.log(
      `tshark oracle: ${matched} of ${inScope.length} corpus files with supported link types match exactly ` +
        `(${corpus.length - inScope.length} files skipped: unsupported link types such as 802.11 radiotap)`,
    );
    for (const m of mismatches) console.log(`MISMATCH ${m.file}:\n  ${m.diff.slice(0, 8).join('\n  ')}`);
    expect(mismatches.map((m) => m.file)).toEqual([]);
  });

  it('a --window counted back from the last frame equals tshark restricted to the same seconds', async () => {
    requireBuiltCli();
    // Files spanning many seconds, so that a window cuts through them.
    const spanning = ['mpls-traceroute.pcap', 'dns-uri.pcap', 'lspping-fec-rsvp.pcap', 'arista_ether.pcap']
      .map((name) => path.join(TCPDUMP_CORPUS_DIR, name))
      .filter((file) => inScope.includes(file));
    expect(spanning.length).toBeGreaterThan(1);
    let windowsChecked = 0;
    for (const file of spanning) {
      const whole = await analyzeJson(file);
      const last = whole?.window.to;
      const first = whole?.window.from;
      if (last === null || last === undefined || first === null || first === undefined) continue;
      for (const seconds of [1, 2, Math.max(1, Math.floor((last - first) / 2))]) {
        const ours = await analyzeJson(file, ['--window', String(seconds)]);
        const from = last - seconds + 1;
        const oracle = await tsharkHostCounts(file, `frame.time_epoch >= ${from}`);
        expect(
          diffHostCounts(toHostCounts(ours), oracle.hosts),
          `${path.basename(file)} --window ${seconds}`,
        ).toEqual([]);
        windowsChecked++;
      }
    }
    expect(windowsChecked).toBeGreaterThan(3);
  });
});
