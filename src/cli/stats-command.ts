import type { Command } from 'commander';
import type { StatsResponse } from '../query/generated/sniffmesh.js';
import { formatBytes, formatCount, formatDuration, renderTable } from './format.js';
import { addNodeOption, type NodeOptionValues, withNodeClient } from './node-option.js';

interface StatsOptionValues extends NodeOptionValues {
  json?: boolean;
}

/** The StatsResponse fields under their camelCase names; kernelDrops null when the source cannot tell. */
export interface StatsJson {
  name: string;
  version: string;
  uptimeSeconds: number;
  captureInterface: string;
  captureFilter: string;
  packets: number;
  bytes: number;
  kernelDrops: number | null;
  undecoded: { reason: string; packets: number }[];
  flows: number;
  evictedFlows: number;
}

/** `sniffmesh stats`: one agent's capture counters, version and uptime. */
export function registerStatsCommand(program: Command, output: { out: (text: string) => void }): void {
  const command = program.command('stats').description("one agent's capture counters, version and uptime");
  addNodeOption(command);
  command.option('--json', 'print exactly one JSON object on stdout instead of a table');
  command.action(async (values: StatsOptionValues) => {
    const stats = await withNodeClient(values, (client) => client.stats());
    const json = statsJson(stats);
    output.out(values.json === true ? JSON.stringify(json) : statsTable(json));
  });
}

export function statsJson(stats: StatsResponse): StatsJson {
  return {
    name: stats.name,
    version: stats.version,
    uptimeSeconds: stats.uptimeSeconds,
    captureInterface: stats.captureInterface,
    captureFilter: stats.captureFilter,
    packets: stats.packets,
    bytes: stats.bytes,
    kernelDrops: stats.kernelDrops ?? null,
    undecoded: stats.undecoded.map(({ reason, packets }) => ({ reason, packets })),
    flows: stats.flows,
    evictedFlows: stats.evictedFlows,
  };
}

function statsTable(stats: StatsJson): string {
  const undecoded = stats.undecoded
    .filter(({ packets }) => packets > 0)
    .map(({ reason, packets }) => `${reason} ${formatCount(packets)}`);
  const rows = [
    ['name', stats.name],
    ['version', stats.version || '-'],
    ['uptime', formatDuration(stats.uptimeSeconds)],
    ['interface', stats.captureInterface || '-'],
    ['filter', stats.captureFilter || '(none)'],
    ['packets', formatCount(stats.packets)],
    ['bytes', `${formatBytes(stats.bytes)} (${formatCount(stats.bytes)})`],
    // Absent means the source cannot tell (a file, some interfaces): not the same as zero drops.
    ['kernel drops', stats.kernelDrops === null ? 'unknown' : formatCount(stats.kernelDrops)],
    ['undecoded', undecoded.length > 0 ? undecoded.join(', ') : '0'],
    ['flows', formatCount(stats.flows)],
    ['evicted flows', formatCount(stats.evictedFlows)],
  ];
  // Label/value lines: the first pair stands in for renderTable's header.
  return renderTable(rows[0], rows.slice(1), ['l', 'l']);
}
