import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SniffmeshError, UsageError } from '../util/errors.js';

/**
 * Who a certificate says its holder is. A sniffmesh certificate carries exactly one URI SAN of the form
 * `sniffmesh://member/NAME` (a mesh member: may serve queries and call the internal Merge) or
 * `sniffmesh://client/NAME` (a user or tool: may call the user-facing methods only). Member certificates
 * also carry `DNS:NAME`, so standard tools that check host names (openssl s_client, grpcurl with
 * -authority) can be pointed at a member by name.
 */
export type TlsRole = 'member' | 'client';

export interface TlsIdentity {
  readonly role: TlsRole;
  readonly name: string;
}

export const IDENTITY_URI_PREFIX = 'sniffmesh://';

/** The URI SAN that names `identity`. */
export function identityUri(identity: TlsIdentity): string {
  return `${IDENTITY_URI_PREFIX}${identity.role}/${identity.name}`;
}

/**
 * The sniffmesh identity in a certificate's subjectAltName text (Node's `X509Certificate.subjectAltName`
 * and `tls.PeerCertificate.subjectaltname` both print `DNS:a, URI:sniffmesh://member/a`), or null when
 * it names none or more than one (a certificate must say one thing).
 */
export function identityFromSubjectAltName(subjectAltName: string | undefined): TlsIdentity | null {
  if (subjectAltName === undefined) return null;
  const found: TlsIdentity[] = [];
  for (const entry of subjectAltName.split(/,\s*/)) {
    if (!entry.startsWith(`URI:${IDENTITY_URI_PREFIX}`)) continue;
    const rest = entry.slice(`URI:${IDENTITY_URI_PREFIX}`.length);
    const slash = rest.indexOf('/');
    if (slash < 0) continue;
    const role = rest.slice(0, slash);
    const name = rest.slice(slash + 1);
    if ((role === 'member' || role === 'client') && name !== '') found.push({ role, name });
  }
  return found.length === 1 ? (found[0] as TlsIdentity) : null;
}

/** The PEM material one process uses for TLS: the CA bundle it trusts, its own chain and key. */
export interface TlsMaterial {
  /** CA certificates (PEM, one or more: a bundle of old and new CA during a rotation). */
  readonly ca: Buffer;
  /** This process's certificate (PEM). */
  readonly cert: Buffer;
  /** Its private key (PEM, PKCS#8). */
  readonly key: Buffer;
  /** What `cert` says this process is. */
  readonly identity: TlsIdentity;
  /** `cert`'s expiry, for messages. */
  readonly validTo: Date;
}

/** The three file flags, as given (all three or none). */
export interface TlsFileOptions {
  tlsCa?: string | undefined;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
}

/** True when any TLS flag is given (then all three must be). */
export function tlsRequested(options: TlsFileOptions): boolean {
  return options.tlsCa !== undefined || options.tlsCert !== undefined || options.tlsKey !== undefined;
}

function readPem(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new SniffmeshError('TLS_FILE', `${flag} ${path}: cannot read (${reason})`);
  }
}

/** Every PEM certificate in a bundle, parsed. */
function parseBundle(flag: string, path: string, pem: Buffer): X509Certificate[] {
  const blocks = pem.toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (blocks === null) throw new SniffmeshError('TLS_FILE', `${flag} ${path}: no PEM certificate in it`);
  return blocks.map((block) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new SniffmeshError(
        'TLS_FILE',
        `${flag} ${path}: not a valid certificate (${(error as Error).message})`,
      );
    }
  });
}

/**
 * Reads and checks --tls-ca/--tls-cert/--tls-key before anything listens: the files exist, the key
 * belongs to the certificate, a CA in the bundle signed it, it is valid now, it carries a sniffmesh
 * identity, and its role is one of `roles` (an agent needs a member certificate). Every failure is one
 * line naming the file and the fix.
 */
export function loadTlsMaterial(
  options: TlsFileOptions,
  roles: readonly TlsRole[],
  nowMs = Date.now(),
): TlsMaterial {
  const { tlsCa, tlsCert, tlsKey } = options;
  if (tlsCa === undefined || tlsCert === undefined || tlsKey === undefined) {
    throw new UsageError(
      'TLS needs all three of --tls-ca, --tls-cert and --tls-key (sniffmesh certs --help)',
    );
  }
  const ca = readPem('--tls-ca', tlsCa);
  const cert = readPem('--tls-cert', tlsCert);
  const key = readPem('--tls-key', tlsKey);
  const authorities = parseBundle('--tls-ca', tlsCa, ca);
  const [own] = parseBundle('--tls-cert', tlsCert, cert) as [X509Certificate];
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new SniffmeshError(
      'TLS_FILE',
      `--tls-key ${tlsKey}: not a private key (${(error as Error).message})`,
    );
  }
  if (!own.checkPrivateKey(privateKey)) {
    throw new SniffmeshError('TLS_FILE', `--tls-key ${tlsKey} is not the key of --tls-cert ${tlsCert}`);
  }
  if (
    !authorities.some(
      (authority) => authority.ca && own.checkIssued(authority) && own.verify(authority.publicKey),
    )
  ) {
    throw new SniffmeshError(
      'TLS_UNTRUSTED',
      `--tls-cert ${tlsCert} is not signed by a CA in --tls-ca ${tlsCa} (issue it with: sniffmesh certs issue CA_DIR NAME)`,
    );
  }
  const validFrom = new Date(own.validFrom);
  const validTo = new Date(own.validTo);
  if (nowMs < validFrom.getTime() || nowMs > validTo.getTime()) {
    throw new SniffmeshError(
      'TLS_EXPIRED',
      `--tls-cert ${tlsCert} is valid from ${validFrom.toISOString()} to ${validTo.toISOString()}, not now`,
    );
  }
  const identity = identityFromSubjectAltName(own.subjectAltName);
  if (identity === null) {
    throw new SniffmeshError(
      'TLS_NO_IDENTITY',
      `--tls-cert ${tlsCert} names no sniffmesh member or client (issue it with: sniffmesh certs issue CA_DIR NAME)`,
    );
  }
  if (!roles.includes(identity.role)) {
    throw new SniffmeshError(
      'TLS_WRONG_ROLE',
      `--tls-cert ${tlsCert} is a ${identity.role} certificate; this needs a ${roles.join(' or ')} certificate` +
        (roles.includes('member') ? ' (sniffmesh certs issue CA_DIR NAME, without --client)' : ''),
    );
  }
  return { ca, cert, key, identity, validTo };
}
