import type { Command } from 'commander';
import { openCaptureFile } from '../node/capture/capture-file-source.js';
import { ParallelAnalysis } from '../node/offline/parallel-analysis.js';
import { SniffmeshError } from '../util/errors.js';
import { addReportOptions, type ReportOptionValues, reportSettings } from './common-options.js';
import { ProgressLine } from './progress-line.js';
import { reportJson, reportTable } from './report-output.js';

interface AnalyzeOptionValues extends ReportOptionValues {
  realtime?: boolean;
}

/**
 * `sniffmesh analyze FILE`: offline analysis of a pcap/pcapng(.gz) file or standard input.
 * When the file is damaged part-way, the report of every frame before the damage is still printed
 * (stdout), then the error (stderr), and the exit code is 1.
 */
export function registerAnalyzeCommand(program: Command, output: { out: (text: string) => void }): void {
  const command = program
    .command('analyze')
    .description('analyze a capture file (pcap or pcapng, optionally gzip-compressed; - reads stdin)')
    .argument('<file>', 'capture file, or - for standard input')
    .option('--realtime', 'replay at the pace of the capture timestamps');
  addReportOptions(command);
  command.action(async (file: string, values: AnalyzeOptionValues) => {
    const settings = reportSettings({ ...values, retention: values.retention });
    // A file's window is counted back from its last frame: keep enough history for the window asked.
    const retentionSeconds = Math.max(settings.retentionSeconds, settings.query.windowSeconds ?? 0);
    // Reading + decoding here, counting in a worker (see parallel-analysis.ts).
    const analysis = new ParallelAnalysis({
      maxFlows: settings.maxFlows,
      retentionSeconds,
      localNets: settings.localNetworks.describe(),
    });
    const source = openCaptureFile(file, { realtime: values.realtime === true });
    const progress = new ProgressLine(file === '-' ? 'stdin' : file, {
      bytesRead: () => source.bytesRead,
      totalBytes: () => source.fileSize,
      frames: () => source.counters().frames,
    });
    progress.start();
    let failure: unknown = null;
    try {
      await analysis.run(source);
    } catch (error) {
      failure = error;
    } finally {
      progress.stop();
    }
    // A damaged file still reports every frame before the damage; a file that yielded nothing just fails.
    const partial = failure instanceof SniffmeshError && failure.code === 'CAPTURE_FILE_CORRUPT';
    if (failure !== null && (!partial || source.counters().frames === 0)) {
      await analysis.close();
      throw failure;
    }
    const report = await analysis.query(settings.query);
    await analysis.close();
    if (settings.json) {
      output.out(
        reportJson(report, {
          source: { file, frames: source.counters().frames, complete: failure === null },
          ...(failure instanceof SniffmeshError ? { error: failure.message } : {}),
        }),
      );
    } else {
      const what = settings.query.limit === 0 ? 'all' : `top ${settings.query.limit}`;
      const window =
        settings.query.windowSeconds === null ? 'whole file' : `last ${settings.query.windowSeconds}s`;
      output.out(reportTable(report, `${file}: ${what} ${report.group} rows by ${report.by} (${window})`));
    }
    if (failure !== null) throw failure;
  });
}
