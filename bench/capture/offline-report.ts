/**
 * The offline benchmark's results as data (what `--json` prints) and as text: a table, PASS/MISS
 * lines for the targets, and a Markdown block to paste into the README.
 */

import type { TargetResult } from '../common/targets.js';
import type { AddressComparison } from './output-checks.js';
import type { ToolId } from './peer-commands.js';
import type { Summary } from './sample-stats.js';

export const MIB_BYTES = 1024 * 1024;

export interface ToolResult {
  id: ToolId;
  label: string;
  command: string[];
  /** Set when a run failed; the tool's other figures are then partial or empty. */
  error?: string;
  wallSeconds: Summary;
  packetsPerSecond: Summary;
  peakRssMiB: Summary;
  /** Wall time over tcpdump's in the same round. */
  wallRatioToTcpdump: Summary;
  samples: { wallSeconds: number; peakRssBytes: number }[];
  notes: string[];
}

export interface MemoryFlatness {
  /** --max-flows of the runs; null = sniffmesh's default. */
  budget: number | null;
  extraArgs: string[];
  base: { flows: number; packets: number; peakRssMiB: Summary };
  manyFlows: { flows: number; packets: number; peakRssMiB: Summary; file: string };
  ratio: number;
  notes: string[];
}

export interface OfflineResults {
  machine: {
    cpus: number;
    cpuModel: string;
    node: string;
    loadAverageStart: number[];
    loadAverageEnd: number[];
  };
  capture: {
    file: string;
    fileBytes: number;
    packets: number;
    wireBytes: number;
    flows: number;
    sources: number;
    generated: boolean;
    generationSeconds: number;
  };
  runs: number;
  tools: ToolResult[];
  pmacctd?: { fixedCostSeconds: Summary; netPacketsPerSecond: Summary; accounting: string };
  speedups: {
    overPmacctd: Summary | null;
    overPmacctdNetOfStartup: Summary | null;
    overTshark: Summary | null;
  };
  correctness?: { comparison: AddressComparison; totalsNote: string; peakRssMiB: number };
  memory?: MemoryFlatness[];
  targets: TargetResult[];
}

export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return '-';
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)} M`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(0)} k`;
  return perSecond.toFixed(0);
}

function rateRange(summary: Summary): string {
  if (summary.count === 0) return '-';
  return `${formatRate(summary.median)} (${formatRate(summary.min)}-${formatRate(summary.max)})`;
}

function secondsRange(summary: Summary): string {
  if (summary.count === 0) return '-';
  return `${summary.median.toFixed(2)} (${summary.min.toFixed(2)}-${summary.max.toFixed(2)})`;
}

function ratio(summary: Summary | null, digits = 2): string {
  if (!summary || summary.count === 0) return '-';
  return `${summary.median.toFixed(digits)}x (${summary.min.toFixed(digits)}-${summary.max.toFixed(digits)})`;
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column].length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => pad(cell, widths[column]))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}

export function formatOfflineReport(results: OfflineResults): string {
  const { capture } = results;
  const lines: string[] = [];
  lines.push(
    `Offline benchmark: ${capture.file}`,
    `  ${(capture.packets / 1e6).toFixed(2)} M packets, ${(capture.fileBytes / 1e6).toFixed(0)} MB file, ` +
      `${(capture.wireBytes / 1e9).toFixed(2)} GB on the wire, ${capture.flows} flows, ${capture.sources} sources` +
      (capture.generated ? ` (generated in ${capture.generationSeconds.toFixed(1)} s)` : ' (cached)'),
    `  ${results.machine.cpus} x ${results.machine.cpuModel}, node ${results.machine.node}, ` +
      `load ${results.machine.loadAverageStart[0].toFixed(2)} -> ${results.machine.loadAverageEnd[0].toFixed(2)}; ` +
      `1 warm-up + ${results.runs} measured rounds, tools alternating; whole process, file in page cache`,
    '',
  );
  const rows = results.tools.map((tool) => [
    tool.label,
    rateRange(tool.packetsPerSecond),
    secondsRange(tool.wallSeconds),
    tool.peakRssMiB.count === 0 ? '-' : tool.peakRssMiB.median.toFixed(0),
    tool.id === 'tcpdump' ? '1.00x' : ratio(tool.wallRatioToTcpdump),
  ]);
  if (results.pmacctd) {
    rows.push([
      'pmacctd, net of fixed cost',
      rateRange(results.pmacctd.netPacketsPerSecond),
      `fixed ${secondsRange(results.pmacctd.fixedCostSeconds)}`,
      '',
      '',
    ]);
  }
  lines.push(
    table(
      ['tool', 'packets/s median (range)', 'wall s median (min-max)', 'peak RSS MiB', 'wall / tcpdump'],
      rows,
    ),
  );
  lines.push('');
  lines.push(`sniffmesh speed-up over pmacctd: ${ratio(results.speedups.overPmacctd, 1)}`);
  lines.push(`  net of pmacctd's fixed start-up cost: ${ratio(results.speedups.overPmacctdNetOfStartup, 1)}`);
  lines.push(`sniffmesh speed-up over tshark (L4 off): ${ratio(results.speedups.overTshark, 1)}`);
  for (const tool of results.tools) {
    if (tool.error) lines.push(`${tool.id} FAILED: ${tool.error}`);
    for (const note of tool.notes) lines.push(`${tool.id}: ${note}`);
  }
  if (results.pmacctd) lines.push(`pmacctd accounting: ${results.pmacctd.accounting}`);
  if (results.correctness) {
    const { comparison, totalsNote } = results.correctness;
    lines.push('');
    lines.push(
      `Correctness (sniffmesh --group src --limit 0 vs ground truth): ${comparison.exact} of ${comparison.expected} ` +
        `sources exact; ${comparison.differing} differing, ${comparison.missing} missing, ${comparison.extra} extra`,
    );
    lines.push(`  ${totalsNote}`);
    for (const example of comparison.examples) lines.push(`  ${example}`);
  }
  if (results.memory && results.memory.length > 0) {
    const [first] = results.memory as [MemoryFlatness];
    lines.push('');
    lines.push(
      `Memory flatness (sniffmesh analyze --group host --limit 10; median peak RSS; base file ` +
        `${first.base.flows} flows, ${(first.base.packets / 1e6).toFixed(2)} M packets; many-flows file ` +
        `${first.manyFlows.flows} flows, ${(first.manyFlows.packets / 1e6).toFixed(2)} M packets):`,
    );
    for (const memory of results.memory) {
      const fills = memory.budget !== null && memory.budget < memory.base.flows;
      lines.push(
        `  ${budgetText(memory.budget).padEnd(22)} ${memory.base.peakRssMiB.median.toFixed(0).padStart(4)} MiB -> ` +
          `${memory.manyFlows.peakRssMiB.median.toFixed(0).padStart(4)} MiB, ratio ${memory.ratio.toFixed(2)}` +
          (fills ? ' (both files fill the budget)' : ' (the base file does not fill the budget)'),
      );
      for (const note of memory.notes) lines.push(`    ${note}`);
    }
    const slope = memoryPerBudgetFlow(results.memory);
    if (slope !== null) {
      lines.push(`  memory per flow of budget on the many-flows file: ${slope.toFixed(0)} bytes`);
    }
  }
  return lines.join('\n');
}

/** Markdown for the README: the table, the ratios, correctness and memory in a few lines. */
export function formatOfflineSummaryMarkdown(results: OfflineResults): string {
  const { capture } = results;
  const lines: string[] = [];
  lines.push(
    `Offline, whole process (start-up included), file in page cache: ${(capture.packets / 1e6).toFixed(2)} M packets ` +
      `(${(capture.fileBytes / 1e6).toFixed(0)} MB pcap, snaplen 128, ${capture.flows.toLocaleString('en-US')} flows, ` +
      `${capture.sources.toLocaleString('en-US')} sources), ${results.machine.cpus} cores, median of ${results.runs} ` +
      'alternating runs (`npm run bench:capture`):',
    '',
    '| tool | packets/s | wall s | peak RSS MiB | wall vs tcpdump |',
    '| --- | --- | --- | --- | --- |',
  );
  for (const tool of results.tools) {
    if (tool.wallSeconds.count === 0) continue;
    lines.push(
      `| ${tool.label} | ${rateRange(tool.packetsPerSecond)} | ${secondsRange(tool.wallSeconds)} | ` +
        `${tool.peakRssMiB.median.toFixed(0)} | ${tool.id === 'tcpdump' ? '1.00x' : ratio(tool.wallRatioToTcpdump)} |`,
    );
  }
  if (results.pmacctd && results.pmacctd.netPacketsPerSecond.count > 0) {
    lines.push(
      `| pmacctd net of its ${results.pmacctd.fixedCostSeconds.median.toFixed(1)} s fixed cost | ` +
        `${rateRange(results.pmacctd.netPacketsPerSecond)} | | | |`,
    );
  }
  lines.push('');
  const speedups: string[] = [];
  if (results.speedups.overPmacctd) {
    speedups.push(
      `${results.speedups.overPmacctd.median.toFixed(1)}x pmacctd ` +
        `(${results.speedups.overPmacctdNetOfStartup?.median.toFixed(1) ?? '-'}x net of its start-up)`,
    );
  }
  if (results.speedups.overTshark) {
    speedups.push(`${results.speedups.overTshark.median.toFixed(1)}x tshark with L4 dissectors off`);
  }
  if (speedups.length > 0) lines.push(`sniffmesh is ${speedups.join(' and ')}.`);
  if (results.correctness) {
    const { comparison } = results.correctness;
    lines.push(
      `Per-source packets and wire bytes match the generator's ground truth for ${comparison.exact.toLocaleString('en-US')} ` +
        `of ${comparison.expected.toLocaleString('en-US')} sources.`,
    );
  }
  if (results.memory && results.memory.length > 0) {
    const [first] = results.memory as [MemoryFlatness];
    lines.push(
      '',
      `Peak RSS with ${first.base.flows.toLocaleString('en-US')} flows and with ` +
        `${first.manyFlows.flows.toLocaleString('en-US')} flows, per flow budget:`,
      '',
      '| budget | base file | 10x flows | ratio |',
      '| --- | --- | --- | --- |',
    );
    for (const memory of results.memory) {
      lines.push(
        `| ${budgetText(memory.budget)} | ${memory.base.peakRssMiB.median.toFixed(0)} MiB | ` +
          `${memory.manyFlows.peakRssMiB.median.toFixed(0)} MiB | ${memory.ratio.toFixed(2)} |`,
      );
    }
    const slope = memoryPerBudgetFlow(results.memory);
    if (slope !== null) {
      lines.push(
        '',
        `On the many-flows file each flow of budget costs ${slope.toFixed(0)} bytes of peak RSS.`,
      );
    }
  }
  return lines.join('\n');
}

function budgetText(budget: number | null): string {
  return budget === null ? 'default --max-flows' : `--max-flows ${budget}`;
}

/**
 * Bytes of peak RSS per flow of budget on the many-flows file (which fills every budget): the slope
 * between the smallest and the largest explicit budget measured; null with fewer than two.
 */
export function memoryPerBudgetFlow(memory: MemoryFlatness[]): number | null {
  const explicit = memory.filter((m) => m.budget !== null).sort((a, b) => a.budget! - b.budget!);
  if (explicit.length < 2) return null;
  const low = explicit[0]!;
  const high = explicit[explicit.length - 1]!;
  return (
    ((high.manyFlows.peakRssMiB.median - low.manyFlows.peakRssMiB.median) * MIB_BYTES) /
    (high.budget! - low.budget!)
  );
}
