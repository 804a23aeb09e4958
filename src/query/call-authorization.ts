import {
  type ServerDuplexStream,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
  status,
} from '@grpc/grpc-js';
import type { SniffmeshServer } from './generated/sniffmesh.js';
import { peerIdentity } from './tls-credentials.js';
import type { TlsIdentity, TlsRole } from './tls-identity.js';

/**
 * Which certificate roles may call each method. The internal merge phases expose every node's raw
 * tables to the caller and are only ever asked by a coordinating member, so only member certificates
 * may call them; everything a user or tool needs (read-only) is open to any certificate the CA signed.
 * A method missing here is refused: a new method has to be placed in this table to be served.
 */
export const METHOD_ROLES: Readonly<Record<keyof SniffmeshServer & string, readonly TlsRole[]>> =
  Object.freeze({
    topTalkers: ['member', 'client'],
    watchTop: ['member', 'client'],
    members: ['member', 'client'],
    watchMembers: ['member', 'client'],
    stats: ['member', 'client'],
    merge: ['member'],
    mergeStream: ['member'],
  });

type AnyCall =
  | ServerUnaryCall<unknown, unknown>
  | ServerWritableStream<unknown, unknown>
  | ServerReadableStream<unknown, unknown>
  | ServerDuplexStream<unknown, unknown>;

interface Refusal {
  code: status;
  details: string;
}

/** The refusal for `method` called by `identity`, or null when it is allowed. */
export function refusalFor(method: string, identity: TlsIdentity | null): Refusal | null {
  const roles = (METHOD_ROLES as Record<string, readonly TlsRole[] | undefined>)[method];
  if (roles === undefined) return { code: status.UNIMPLEMENTED, details: `${method} is not served` };
  if (identity === null) {
    return {
      code: status.UNAUTHENTICATED,
      details: 'a certificate naming a sniffmesh member or client is required (sniffmesh certs issue)',
    };
  }
  if (!roles.includes(identity.role)) {
    return {
      code: status.PERMISSION_DENIED,
      details: `the merge phases (Merge, MergeStream) are internal to the mesh: only member certificates may call them (this is ${identity.role} ${JSON.stringify(identity.name).slice(0, 80)})`,
    };
  }
  return null;
}

/** The caller's identity as TLS proved it, or null on a plaintext connection. */
export function callerIdentity(call: AnyCall): TlsIdentity | null {
  return peerIdentity(call.getAuthContext().sslPeerCertificate);
}

/**
 * Wraps every handler so that, on a TLS server, a call is served only when the caller's certificate
 * role is allowed for the method (METHOD_ROLES); others get PERMISSION_DENIED (or UNAUTHENTICATED when
 * the certificate names no sniffmesh identity) before any of their input is read. Streams are refused
 * with the same status as their unary twins. On a plaintext server (loopback, or --insecure) nothing is
 * checked: there is no identity to check.
 */
export function authorizeCalls(handlers: SniffmeshServer, tls: boolean): SniffmeshServer {
  if (!tls) return handlers;
  const wrapped: Record<string, unknown> = {};
  for (const [method, handler] of Object.entries(handlers) as [string, (...args: unknown[]) => void][]) {
    wrapped[method] = (call: AnyCall, callback?: sendUnaryData<unknown>) => {
      const refusal = refusalFor(method, callerIdentity(call));
      if (refusal === null) {
        handler(call, callback);
        return;
      }
      if (callback !== undefined) callback({ code: refusal.code, details: refusal.details }, null);
      else (call as ServerWritableStream<unknown, unknown>).emit('error', refusal);
    };
  }
  return wrapped as SniffmeshServer;
}
