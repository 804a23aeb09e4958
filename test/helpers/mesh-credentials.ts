import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initCertificateAuthority, issueCertificate } from '../../src/cli/certificate-authority.js';
import { generateGossipKey } from '../../src/membership/gossip-keyring.js';

/**
 * The credentials of one test mesh, made the way an operator makes them (sniffmesh certs, sniffmesh
 * keygen): a CA, a member certificate per agent, a read-only client certificate, and a gossip key file.
 */
export interface MeshCredentials {
  readonly caDir: string;
  readonly gossipKeyFile: string;
  /** The agent flags for member `name`: mutual TLS and the gossip key. */
  agentArgs(name: string): string[];
  /** The CLI flags of the read-only client certificate. */
  clientArgs(): string[];
}

export async function makeMeshCredentials(dir: string, names: readonly string[]): Promise<MeshCredentials> {
  const caDir = join(dir, 'ca');
  mkdirSync(dir, { recursive: true });
  await initCertificateAuthority(caDir);
  for (const name of names) await issueCertificate(caDir, name, 'member');
  await issueCertificate(caDir, 'tester', 'client');
  const gossipKeyFile = join(dir, 'gossip.key');
  writeFileSync(gossipKeyFile, `${generateGossipKey()}\n`, { mode: 0o600 });
  const tls = (base: string) => [
    '--tls-ca',
    join(caDir, 'ca.crt'),
    '--tls-cert',
    join(caDir, `${base}.crt`),
    '--tls-key',
    join(caDir, `${base}.key`),
  ];
  return {
    caDir,
    gossipKeyFile,
    agentArgs: (name) => [...tls(name), '--gossip-key-file', gossipKeyFile],
    clientArgs: () => tls('tester.client'),
  };
}
