import type { Command } from 'commander';
import { parseHostPort } from '../membership/gossip-address.js';
import { QueryClient } from '../query/query-client.js';
import { DEFAULT_QUERY_NODE } from '../query/query-config.js';
import { loadTlsMaterial, type TlsFileOptions, tlsRequested } from '../query/tls-identity.js';
import { checkClientConnection } from './secure-defaults.js';

/** What commander hands over for --node and the TLS flags. */
export interface NodeOptionValues extends TlsFileOptions {
  node: string;
  insecure?: boolean;
}

/** Adds --tls-ca/--tls-cert/--tls-key: the same three flags on the agent and on every client command. */
export function addTlsOptions(command: Command, role: 'agent' | 'client'): Command {
  const certificate =
    role === 'agent'
      ? "this member's certificate (sniffmesh certs issue DIR NAME: its SAN names --name)"
      : 'a client certificate (sniffmesh certs issue DIR NAME --client) or a member one';
  return command
    .option(
      '--tls-ca <file>',
      'CA certificate(s) to trust (PEM; sniffmesh certs init DIR): turns on mutual TLS',
    )
    .option('--tls-cert <file>', certificate)
    .option('--tls-key <file>', 'the private key of --tls-cert (PEM)');
}

/** Adds --node HOST:PORT (the agent that answers: any member answers for the cluster) and the TLS flags. */
export function addNodeOption(command: Command): Command {
  command.option(
    '--node <host:port>',
    'the agent to ask: its --grpc address (any member answers for the cluster)',
    DEFAULT_QUERY_NODE,
  );
  addTlsOptions(command, 'client');
  return command.option('--insecure', 'allow a plaintext query to an agent that is not on loopback');
}

/**
 * A client for --node: mutual TLS when the TLS flags are given (checked before connecting), plaintext
 * to loopback, refused otherwise unless --insecure.
 */
export function nodeClient(values: NodeOptionValues): QueryClient {
  const target = parseHostPort(values.node, '--node');
  const tls = tlsRequested(values) ? loadTlsMaterial(values, ['client', 'member']) : null;
  checkClientConnection(target.host, tls !== null, values.insecure === true);
  return new QueryClient(values.node, '--node', tls);
}

/** Runs `use` with a client for --node and closes the channel afterwards, so the process can exit. */
export async function withNodeClient<T>(
  values: NodeOptionValues,
  use: (client: QueryClient) => Promise<T>,
): Promise<T> {
  const client = nodeClient(values);
  try {
    return await use(client);
  } finally {
    client.close();
  }
}
