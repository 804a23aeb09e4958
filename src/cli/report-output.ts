import type { TopReport } from '../node/flows/top-query.js';
import { formatBytes, formatCount, renderTable } from './format.js';

const GROUP_TITLES: Record<string, string> = {
  host: 'HOST',
  src: 'SOURCE',
  dst: 'DESTINATION',
  pair: 'CONVERSATION',
  flow: 'FLOW',
  port: 'SERVICE',
  proto: 'PROTOCOL',
};

/** The one JSON object `--json` prints: rows, totals, undecoded, plus context fields. */
export function reportJson(report: TopReport, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    rows: report.rows,
    totals: report.totals,
    undecoded: report.undecoded,
    group: report.group,
    by: report.by,
    groups: report.groups,
    window: report.window,
    evicted: report.evicted,
    exact: report.exact,
    ...extra,
  });
}

/** The rows of an answer as an aligned table (analyze, capture and the cluster `top` print the same). */
export function rowsTable(report: Pick<TopReport, 'group' | 'by' | 'rows' | 'totals'>): string {
  const share = (v: number, total: number) => (total > 0 ? `${((100 * v) / total).toFixed(1)}%` : '-');
  const metricTotal = report.by === 'bytes' ? report.totals.ipBytes : report.totals.ipPackets;
  const header = ['#', GROUP_TITLES[report.group], 'BYTES', 'PACKETS', 'SHARE', 'FLOWS'];
  const align: ('l' | 'r')[] = ['r', 'l', 'r', 'r', 'r', 'r'];
  if (report.group === 'host') {
    header.push('SENT', 'RECEIVED');
    align.push('r', 'r');
  }
  const rows = report.rows.map((row, i) => {
    const cells = [
      String(i + 1),
      row.key,
      formatBytes(row.bytes),
      formatCount(row.packets),
      share(report.by === 'bytes' ? row.bytes : row.packets, metricTotal),
      formatCount(row.flows),
    ];
    if (report.group === 'host')
      cells.push(formatBytes(Number(row.sentBytes)), formatBytes(Number(row.receivedBytes)));
    return cells;
  });
  return rows.length > 0 ? renderTable(header, rows, align) : '(no IP traffic)';
}

/** "frames 12 (3.89 kB), IP 10 (3.2 kB), undecoded not-ip 2": what was counted, under any table. */
export function totalsLine(report: Pick<TopReport, 'totals' | 'undecoded'>): string {
  const undecoded = Object.entries(report.undecoded)
    .filter(([, n]) => n > 0)
    .map(([reason, n]) => `${reason} ${formatCount(n)}`);
  return (
    `frames ${formatCount(report.totals.packets)} (${formatBytes(report.totals.bytes)}), ` +
    `IP ${formatCount(report.totals.ipPackets)} (${formatBytes(report.totals.ipBytes)}), ` +
    `undecoded ${undecoded.length > 0 ? undecoded.join(', ') : '0'}`
  );
}

/** A readable table of the report with a summary underneath. */
export function reportTable(report: TopReport, title: string): string {
  const lines = [title, '', rowsTable(report), ''];
  lines.push(
    `${totalsLine(report)}; ` +
      `${formatCount(report.groups)} ${GROUP_TITLES[report.group].toLowerCase()} rows` +
      (report.rows.length < report.groups ? `, top ${report.rows.length} shown` : ''),
  );
  if (report.window.seconds !== null && !report.window.complete) {
    lines.push(
      `note: the ${report.window.seconds}s window is only partly covered (history kept from ${report.window.from ?? '-'}).`,
    );
  }
  if (report.evicted.packets > 0) {
    const inNoRow = report.evicted.inNoRowPackets;
    lines.push(
      `note: ${formatCount(report.evicted.flows)} light flows were evicted to stay within --max-flows; ` +
        (inNoRow > 0
          ? `${formatCount(inNoRow)} of their packets are in no row.`
          : `their ${formatCount(report.evicted.packets)} packets still count in these rows.`),
    );
  }
  return lines.join('\n');
}
