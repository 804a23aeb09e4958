/**
 * The offline contestants and their exact command lines. Each reads the same page-cached pcap and
 * aggregates (or, for tcpdump, merely reads and discards) every frame; what each one computes:
 *
 * - sniffmesh: top 10 hosts by wire bytes (the job under test).
 * - tcpdump -w /dev/null: libpcap's raw read rate, the floor any pcap reader can hope for.
 * - tshark -z endpoints: per-address tables for IPv4 and IPv6, with the TCP/UDP/ICMP/ICMPv6 dissectors
 *   off (with them on tshark is 50-200x slower and superlinear: capture-anchors.md). Both the `ip` and
 *   the `ipv6` tables are asked for, so tshark does the same job as sniffmesh (asking for both costs
 *   the same as `ip` alone).
 * - pmacctd: print plugin aggregating by src_host, reading the file through pcap_savefile. It sleeps
 *   2 s at end of file and 1 ms after every plugin buffer it hands over (plugin_hooks.c), so the plugin
 *   buffer is made large (10 MiB) to keep those sleeps to a few hundred; the 400 MiB pipe keeps the
 *   core from overrunning the plugin. Its fixed cost is measured on a 1-packet file.
 */

import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type ToolId = 'sniffmesh' | 'tcpdump' | 'tshark' | 'pmacctd';

export const ALL_TOOL_IDS: readonly ToolId[] = ['sniffmesh', 'tcpdump', 'tshark', 'pmacctd'];

const PMACCT_PLUGIN_BUFFER_BYTES = 10 * 1024 * 1024;
const PMACCT_PLUGIN_PIPE_BYTES = 400 * 1024 * 1024;
const TSHARK_DISABLED_PROTOCOLS = ['tcp', 'udp', 'icmp', 'icmpv6'];

export interface OfflineTool {
  id: ToolId;
  /** Short name for tables. */
  label: string;
  /** The command for one run on `file`. */
  command(file: string): string[];
  /** Whether the harness needs the command's stdout (sniffmesh JSON). */
  captureStdout: boolean;
  /** Called right before each run on `file`. */
  beforeRun?(file: string): void;
}

/** The repository root, from this module's place in `dist/bench/capture/` (or `bench/capture/`). */
export function repoRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const parts = here.split(path.sep);
  const distIndex = parts.lastIndexOf('dist');
  return distIndex >= 0
    ? parts.slice(0, distIndex).join(path.sep) || path.sep
    : path.resolve(here, '..', '..');
}

/** How sniffmesh is started: `node <repo>/dist/src/cli/main.js`, or a stand-in given with --sniffmesh-cmd. */
export function sniffmeshPrefix(repoRoot: string, override: string | undefined): string[] {
  if (override) return override.split(/\s+/).filter((word) => word.length > 0);
  return [process.execPath, path.join(repoRoot, 'dist', 'src', 'cli', 'main.js')];
}

export function sniffmeshAnalyzeCommand(prefix: string[], file: string, extra: string[]): string[] {
  return [...prefix, 'analyze', file, '--json', ...extra];
}

export function sniffmeshTool(prefix: string[], extraArgs: string[]): OfflineTool {
  return {
    id: 'sniffmesh',
    label: 'sniffmesh analyze --group host',
    command: (file) =>
      sniffmeshAnalyzeCommand(prefix, file, ['--group', 'host', '--limit', '10', ...extraArgs]),
    captureStdout: true,
  };
}

export function tcpdumpTool(): OfflineTool {
  return {
    id: 'tcpdump',
    label: 'tcpdump -r F -w /dev/null',
    command: (file) => ['tcpdump', '-r', file, '-w', '/dev/null'],
    captureStdout: false,
  };
}

export function tsharkTool(): OfflineTool {
  const disabled = TSHARK_DISABLED_PROTOCOLS.flatMap((protocol) => ['--disable-protocol', protocol]);
  return {
    id: 'tshark',
    label: 'tshark -z endpoints (L4 off)',
    command: (file) => [
      'tshark',
      '-r',
      file,
      '-q',
      '-z',
      'endpoints,ip',
      '-z',
      'endpoints,ipv6',
      ...disabled,
    ],
    captureStdout: false,
  };
}

/** pmacctd needs one config file per input file; they live in `scratchDirectory`. */
export class PmacctTool implements OfflineTool {
  readonly id = 'pmacctd' as const;
  readonly label = 'pmacctd print src_host';
  readonly captureStdout = false;

  constructor(private readonly scratchDirectory: string) {}

  outputPath(file: string): string {
    return path.join(this.scratchDirectory, `pmacct-${path.basename(file)}.csv`);
  }

  configPath(file: string): string {
    const configPath = path.join(this.scratchDirectory, `pmacct-${path.basename(file)}.conf`);
    if (!existsSync(configPath)) {
      const lines = [
        'daemonize: false',
        `pcap_savefile: ${file}`,
        'aggregate: src_host',
        'plugins: print',
        'print_output: csv',
        `print_output_file: ${this.outputPath(file)}`,
        // Dump once, at exit: a periodic dump would add work that depends on the run's length.
        'print_refresh_time: 3600',
        `plugin_buffer_size: ${PMACCT_PLUGIN_BUFFER_BYTES}`,
        `plugin_pipe_size: ${PMACCT_PLUGIN_PIPE_BYTES}`,
      ];
      writeFileSync(configPath, `${lines.join('\n')}\n`);
    }
    return configPath;
  }

  command(file: string): string[] {
    return ['pmacctd', '-f', this.configPath(file)];
  }

  /** Removes the previous run's output, so that a failed run cannot pass for a good one. */
  beforeRun(file: string): void {
    rmSync(this.outputPath(file), { force: true });
  }
}
