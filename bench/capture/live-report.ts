/** The live benchmark's results as text: a run table, per-receiver verdicts, and a README block. */

import { type LiveResults, LOSS_THRESHOLD, type ReceiverSummary } from './live-benchmark.js';

function rate(pps: number | null): string {
  if (pps === null || !Number.isFinite(pps)) return '-';
  return pps >= 1e6 ? `${(pps / 1e6).toFixed(2)} M` : `${Math.round(pps / 1e3)} k`;
}

function percent(loss: number): string {
  return Number.isFinite(loss) ? `${(loss * 100).toFixed(3)} %` : '-';
}

function cleanRate(pps: number | null): string {
  return pps === null ? 'none (every run lost more)' : `${rate(pps)} packets/s`;
}

function atRate(point: ReceiverSummary['at100k']): string {
  return point ? `${percent(point.loss)} (${point.sender} at ${rate(point.achievedPps)}/s)` : 'not run';
}

export function formatLiveReport(results: LiveResults): string {
  const lines: string[] = [];
  lines.push(
    `Live capture loss over a veth pair (${results.veth.sender} -> ${results.veth.receiver}, MTU 1600, own namespaces)`,
    `  frames from ${results.frames.file}: ${results.frames.averageFrameBytes.toFixed(0)} B average as sent; ` +
      `trafgen cycles through the first ${results.frames.trafgenFrames}`,
    '',
  );
  const header = [
    'sender',
    'requested/s',
    'achieved/s',
    'receiver',
    'sent',
    'captured',
    'loss',
    'kernel drops',
  ];
  const rows = results.runs.map((run) => [
    run.sender,
    run.requestedPps === null ? 'unlimited' : rate(run.requestedPps),
    rate(run.achievedPps),
    run.receiver,
    run.error ? '-' : `${run.sent}`,
    run.error ? '-' : `${run.captured}`,
    run.error ? 'FAILED' : percent(run.loss),
    run.kernelDrops === null ? 'n/a' : `${run.kernelDrops}`,
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column].length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column]))
      .join('  ')
      .trimEnd();
  lines.push(line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line));
  for (const run of results.runs) {
    const what = `${run.sender} ${run.requestedPps ?? 'unlimited'} -> ${run.receiver}`;
    if (run.error) lines.push(`${what}: ${run.error}`);
    for (const note of run.notes) lines.push(`${what}: ${note}`);
  }
  lines.push('');
  for (const summary of results.receivers) {
    if (summary.completedRuns === 0) {
      lines.push(`${summary.receiver}: no run completed`);
      continue;
    }
    lines.push(
      `${summary.receiver}: highest send rate with loss < ${LOSS_THRESHOLD * 100} %: ${cleanRate(summary.highestCleanPps)}; ` +
        `loss at 100 k/s requested ${atRate(summary.at100k)}, at 500 k/s requested ${atRate(summary.at500k)}`,
    );
  }
  return lines.join('\n');
}

export function formatLiveSummaryMarkdown(results: LiveResults): string {
  const lines = [
    `Live capture over a veth pair (${results.frames.averageFrameBytes.toFixed(0)} B frames; tcpreplay at rising rates, ` +
      'trafgen rate-limited and unlimited; `npm run bench:capture -- --live`):',
    '',
    `| receiver | highest rate with < ${LOSS_THRESHOLD * 100} % loss | loss at 100 k/s | loss at 500 k/s requested |`,
    '| --- | --- | --- | --- |',
  ];
  for (const summary of results.receivers) {
    const label = {
      tcpdump: 'tcpdump -B 65536',
      sniffmesh: 'sniffmesh capture',
      'sniffmesh-offloads-off': 'sniffmesh capture --disable-offloads',
      'sniffmesh-immediate': 'sniffmesh capture --immediate',
    }[summary.receiver];
    if (summary.completedRuns === 0) {
      lines.push(`| ${label} | no run completed | | |`);
      continue;
    }
    lines.push(
      `| ${label} | ${cleanRate(summary.highestCleanPps)} | ${atRate(summary.at100k)} | ${atRate(summary.at500k)} |`,
    );
  }
  return lines.join('\n');
}
