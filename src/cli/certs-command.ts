import type { Command } from 'commander';
import { parseInteger } from './common-options.js';

/**
 * `sniffmesh certs`: a private CA for one mesh and the certificates its members and clients use for
 * mutual TLS. The X.509 code (certificate-authority.ts) is loaded only when a certs command runs.
 */
export function registerCertsCommand(program: Command, output: { out: (text: string) => void }): void {
  const certs = program
    .command('certs')
    .description('make the CA and certificates for mutual TLS (--tls-ca/--tls-cert/--tls-key)');
  certs
    .command('init')
    .argument('<dir>', 'directory for the CA (created 0700 when missing)')
    .description('create a CA: DIR/ca.crt (give it to everyone as --tls-ca) and DIR/ca.key (keep it safe)')
    .option('--json', 'print the files as JSON')
    .action(async (dir: string, values: { json?: boolean }) => {
      const { initCertificateAuthority, CA_VALIDITY_DAYS } = await import('./certificate-authority.js');
      const files = await initCertificateAuthority(dir);
      if (values.json === true) output.out(JSON.stringify({ ...files, validityDays: CA_VALIDITY_DAYS }));
      else {
        output.out(
          `CA certificate  ${files.cert}   (ECDSA P-256, valid ${CA_VALIDITY_DAYS} days: --tls-ca everywhere)`,
        );
        output.out(`CA key          ${files.key}   (mode 0600: keep it off the members if you can)`);
        output.out(
          `next: sniffmesh certs issue ${dir} MEMBER_NAME   (one per member; --client for a read-only user)`,
        );
      }
    });
  certs
    .command('issue')
    .argument('<dir>', 'the CA directory (certs init)')
    .argument('<name>', "the member's --name (or, with --client, a name for the user or tool)")
    .description(
      'issue a certificate signed by the CA: a member one (serves queries, takes part in merges) or, with ' +
        '--client, a read-only one (top, members, stats; not the internal Merge)',
    )
    .option('--client', 'a read-only client certificate instead of a member one')
    .option('--days <N>', "validity in days (at most the CA's remaining validity)", '365')
    .option('--out <dir>', 'write the certificate and key here instead of the CA directory')
    .option('--json', 'print the files as JSON')
    .action(
      async (
        dir: string,
        name: string,
        values: { client?: boolean; days: string; out?: string; json?: boolean },
      ) => {
        const { issueCertificate, MAX_CERT_VALIDITY_DAYS } = await import('./certificate-authority.js');
        const days = parseInteger('--days', values.days, 1, MAX_CERT_VALIDITY_DAYS);
        const role = values.client === true ? 'client' : 'member';
        const files = await issueCertificate(dir, name, role, {
          days,
          ...(values.out === undefined ? {} : { outDir: values.out }),
        });
        if (values.json === true) output.out(JSON.stringify({ ...files, role, name, validityDays: days }));
        else {
          output.out(
            `${role} certificate  ${files.cert}   (${role === 'member' ? `SAN DNS:${name}, ` : ''}URI:sniffmesh://${role}/${name}; ${days} days)`,
          );
          output.out(`${role} key          ${files.key}   (mode 0600)`);
          output.out(
            role === 'member'
              ? `use: sniffmesh agent --name ${name} --tls-ca ${dir}/ca.crt --tls-cert ${files.cert} --tls-key ${files.key} ...`
              : `use: sniffmesh top --node HOST:PORT --tls-ca ${dir}/ca.crt --tls-cert ${files.cert} --tls-key ${files.key}`,
          );
        }
      },
    );
}
