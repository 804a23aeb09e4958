import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { checkMemberName } from '../membership/member-name.js';
import { identityUri, type TlsRole } from '../query/tls-identity.js';
import { SniffmeshError } from '../util/errors.js';

// @peculiar/x509 (pure TypeScript, maintained, used by PKI.js's authors) builds the certificates; the
// keys are made and the signatures computed by Node's own WebCrypto. It needs a Reflect polyfill
// (tsyringe inside it), loaded by this module only: `sniffmesh certs` is the one command that imports it.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** ECDSA on P-256 with SHA-256: small keys, fast handshakes, accepted by every TLS stack grpc-js uses. */
const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
/** The CA is valid 10 years: rotating it is a planned operation (SECURITY.md), not a yearly chore. */
export const CA_VALIDITY_DAYS = 3650;
/** Member and client certificates: 1 year by default (--days), at most the CA's remaining validity. */
export const DEFAULT_CERT_VALIDITY_DAYS = 365;
export const MAX_CERT_VALIDITY_DAYS = CA_VALIDITY_DAYS;
/** Issued certificates start 5 minutes in the past: a peer whose clock is a little behind accepts them. */
const BACKDATE_MS = 5 * 60_000;
const DAY_MS = 86_400_000;

export const CA_CERT_FILE = 'ca.crt';
export const CA_KEY_FILE = 'ca.key';

export interface IssuedFiles {
  readonly cert: string;
  readonly key: string;
}

function pem(label: string, der: ArrayBuffer): string {
  const base64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${label}-----\n${base64.replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`;
}

function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] as number) & 0x7f; // positive, as RFC 5280 asks
  return bytes.toString('hex');
}

/** Writes `text` readable by its owner only (keys), refusing to replace a file that exists. */
function writeNew(path: string, text: string, mode: number): void {
  if (existsSync(path))
    throw new SniffmeshError('CERT_EXISTS', `${path} exists: not replacing it (remove it first)`);
  writeFileSync(path, text, { mode, flag: 'wx' });
  chmodSync(path, mode);
}

async function newKeyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  return pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', key as webcrypto.CryptoKey));
}

/**
 * `certs init DIR`: a new CA (ca.crt, ca.key with mode 0600) in DIR (created 0700 when missing).
 * Refuses to overwrite an existing CA: every certificate it signed would stop being trusted.
 */
export async function initCertificateAuthority(dir: string, nowMs = Date.now()): Promise<IssuedFiles> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files = { cert: join(dir, CA_CERT_FILE), key: join(dir, CA_KEY_FILE) };
  for (const path of [files.cert, files.key]) {
    if (existsSync(path))
      throw new SniffmeshError('CERT_EXISTS', `${path} exists: ${dir} already holds a CA`);
  }
  const keys = await newKeyPair();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: [{ CN: ['sniffmesh CA'] }, { O: ['sniffmesh'] }],
    notBefore: new Date(nowMs - BACKDATE_MS),
    notAfter: new Date(nowMs + CA_VALIDITY_DAYS * DAY_MS),
    signingAlgorithm: KEY_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  writeNew(files.key, await privateKeyPem(keys.privateKey), 0o600);
  writeNew(files.cert, certificate.toString('pem'), 0o644);
  return files;
}

/**
 * `certs issue DIR NAME [--client]`: a certificate signed by DIR's CA, with the key beside it (0600).
 * A member certificate (NAME.crt/NAME.key) names the member in its SANs (URI sniffmesh://member/NAME and
 * DNS:NAME) and may serve and call the internal merge; a client certificate (NAME.client.crt/.key, URI
 * sniffmesh://client/NAME) is for people and tools and may only call the read-only methods.
 */
export async function issueCertificate(
  dir: string,
  name: string,
  role: TlsRole,
  options: { days?: number; outDir?: string; nowMs?: number } = {},
): Promise<IssuedFiles> {
  // The member-name rule for both roles: a certificate name goes into a SAN, a file name and log lines.
  checkMemberName(name, 'certificate name');
  const days = options.days ?? DEFAULT_CERT_VALIDITY_DAYS;
  const nowMs = options.nowMs ?? Date.now();
  const caCertPath = join(dir, CA_CERT_FILE);
  const caKeyPath = join(dir, CA_KEY_FILE);
  let caCert: x509.X509Certificate;
  let caKey: CryptoKey;
  try {
    caCert = new x509.X509Certificate(readFileSync(caCertPath, 'utf8'));
    const caKeyDer = Buffer.from(
      readFileSync(caKeyPath, 'utf8').replace(/-----(BEGIN|END) PRIVATE KEY-----|\s/g, ''),
      'base64',
    );
    caKey = (await webcrypto.subtle.importKey('pkcs8', caKeyDer, KEY_ALGORITHM, false, [
      'sign',
    ])) as CryptoKey;
  } catch (error) {
    throw new SniffmeshError(
      'CA_UNREADABLE',
      `${dir}: no usable CA in it (${(error as Error).message.slice(0, 120)}); create one with: sniffmesh certs init ${dir}`,
    );
  }
  const notAfter = Math.min(nowMs + days * DAY_MS, caCert.notAfter.getTime());
  const keys = await newKeyPair();
  const sans: x509.JsonGeneralName[] = [{ type: 'url', value: identityUri({ role, name }) }];
  if (role === 'member') sans.unshift({ type: 'dns', value: name });
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: [{ CN: [name] }, { O: ['sniffmesh'] }, { OU: [role] }],
    issuer: caCert.subject,
    notBefore: new Date(nowMs - BACKDATE_MS),
    notAfter: new Date(notAfter),
    signingAlgorithm: KEY_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(
        role === 'member'
          ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]
          : [x509.ExtendedKeyUsage.clientAuth],
      ),
      new x509.SubjectAlternativeNameExtension(sans),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  const outDir = options.outDir ?? dir;
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  const base = role === 'member' ? name : `${name}.client`;
  const files = { cert: join(outDir, `${base}.crt`), key: join(outDir, `${base}.key`) };
  if (existsSync(files.cert) || existsSync(files.key)) {
    throw new SniffmeshError(
      'CERT_EXISTS',
      `${files.cert} or its key exists: not replacing it (remove both first)`,
    );
  }
  writeNew(files.key, await privateKeyPem(keys.privateKey), 0o600);
  writeNew(files.cert, certificate.toString('pem'), 0o644);
  return files;
}
