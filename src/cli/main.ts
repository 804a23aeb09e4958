#!/usr/bin/env node
import { logVerbosity, setLogVerbosity } from '@grpc/grpc-js';
import { Command, CommanderError } from 'commander';
import { SniffmeshError } from '../util/errors.js';
import { SNIFFMESH_VERSION } from '../util/package-version.js';
import { registerAgentCommand, registerKeygenCommand } from './agent-command.js';
import { registerAnalyzeCommand } from './analyze-command.js';
import { registerCaptureCommand } from './capture-command.js';
import { registerCertsCommand } from './certs-command.js';
import { registerMembersCommand } from './members-command.js';
import { registerStatsCommand } from './stats-command.js';
import { registerTopCommand } from './top-command.js';

/**
 * The `sniffmesh` command. Exit codes: 0 ok, 1 runtime error, 2 usage error. Errors print as one line on
 * stderr; --debug adds the stack trace.
 */
export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  // grpc-js writes its own error lines to stderr ("E No address added out of total 1 resolved") next to
  // the one line we print for the same failure; they stay available with --debug or GRPC_VERBOSITY.
  if (!debug && process.env.GRPC_VERBOSITY === undefined) setLogVerbosity(logVerbosity.NONE);
  const output = { out: (text: string) => process.stdout.write(`${text}\n`) };
  const program = new Command('sniffmesh')
    .description(
      'A packet sniffer that runs as a mesh: capture, decode and count traffic; ask for top talkers.',
    )
    .version(SNIFFMESH_VERSION)
    .option('--debug', 'print stack traces with errors')
    .exitOverride()
    .configureOutput({
      writeErr: (text) => process.stderr.write(text),
      // Usage errors in the same one-line form as every other error.
      outputError: (text, write) => write(`sniffmesh: ${text.replace(/^error: /, '')}`),
    });
  registerAnalyzeCommand(program, output);
  registerCaptureCommand(program, output);
  registerAgentCommand(program, output);
  registerKeygenCommand(program, output);
  registerCertsCommand(program, output);
  registerTopCommand(program, output);
  registerMembersCommand(program, output);
  registerStatsCommand(program, output);
  program.addHelpText(
    'after',
    `
Report flags (analyze and capture):
  -g, --group host|src|dst|pair|flow|port|proto   what a row is (default host)
  -b, --by bytes|packets                          rank rows by (default bytes)
  -n, --limit N                                   rows; 0 = all (default 10)
  -w, --window SECONDS                            only the last N seconds
  --json                                          one JSON object on stdout
  --max-flows N, --retention SECONDS, --local-net CIDR   memory budget, history, this host's networks
capture flags: -i IFACE, -f FILTER, -s SNAPLEN, --no-promisc, -B MiB, -d SECONDS, --refresh SECONDS
analyze flags: FILE (- = stdin; pcap, pcapng, gzip), --realtime

Cluster queries (top, members, stats) ask one agent over gRPC: --node HOST:PORT (default 127.0.0.1:7948);
  off loopback with mutual TLS: --tls-ca FILE --tls-cert FILE --tls-key FILE ('sniffmesh certs --help').
top flags: -g, -b, -n (1-1000), -w, --json as above; --local (that node only), --watch SECONDS,
  --deadline MS, --cidr CIDR,... --port N,... --protocol tcp|udp|icmp|N,... --nodes NAME,...
members flags: --watch (then every membership event), --json;  stats flags: --json

Exit codes: 0 ok, 1 runtime error, 2 usage error. 'sniffmesh help <command>' shows every flag.`,
  );
  for (const command of program.commands) command.exitOverride();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are "errors" to commander; their text is already printed.
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
      // Help shown because no command was given is a usage error, not success.
      if (error.code === 'commander.help') return error.exitCode === 0 ? 0 : 2;
      return 2;
    }
    if (error instanceof SniffmeshError) {
      process.stderr.write(`sniffmesh: ${error.message}\n`);
      if (debug && error.stack) process.stderr.write(`${error.stack}\n`);
      return error.exitCode;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`sniffmesh: internal error: ${message}\n`);
    if (debug && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    return 1;
  }
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`sniffmesh: ${String(error)}\n`);
    process.exitCode = 1;
  },
);
