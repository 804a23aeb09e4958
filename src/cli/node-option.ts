import type { Command } from 'commander';
import { QueryClient } from '../query/query-client.js';
import { DEFAULT_QUERY_NODE } from '../query/query-config.js';

/** What commander hands over for --node. */
export interface NodeOptionValues {
  node: string;
}

/** Adds --node HOST:PORT: the agent that answers (any member answers for the whole cluster). */
export function addNodeOption(command: Command): Command {
  return command.option(
    '--node <host:port>',
    'the agent to ask: its --grpc address (any member answers for the cluster)',
    DEFAULT_QUERY_NODE,
  );
}

/** Runs `use` with a client for --node and closes the channel afterwards, so the process can exit. */
export async function withNodeClient<T>(
  values: NodeOptionValues,
  use: (client: QueryClient) => Promise<T>,
): Promise<T> {
  const client = new QueryClient(values.node, '--node');
  try {
    return await use(client);
  } finally {
    client.close();
  }
}
