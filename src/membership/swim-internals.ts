import { createRequire } from 'node:module';
import { SniffmeshError } from '../util/errors.js';
import type { SwimRecord } from './swim-wire.js';

/**
 * The shape of swim 0.6's internals, declared for swim-engine.ts, the one module that drives them (and
 * the only one that imports this file). swim's public API is too small for what sniffmesh needs (no
 * leave broadcast, no anti-entropy, no authentication, crashes on malformed input), so the engine
 * replaces its socket and wraps a few methods. `createSwim` checks the shape at start-up
 * (`assertSwimShape`), so a different swim version fails loudly instead of misbehaving.
 */

export interface SwimMemberObject {
  host: string;
  state: 0 | 1 | 2;
  incarnation: number;
  meta: unknown;
  data(): SwimRecord;
}

export interface SwimNetInternals {
  udp: { maxDgramSize: number };
  listen(callback: (error?: Error) => void): void;
  close(): void;
  sendBuffer(buffer: Buffer, host: string): void;
  sendMessages(messages: Array<{ type: number; data: unknown }>, host: string): void;
  makeCompoundMessage(buffers: Buffer[]): Buffer;
  emit(event: string, ...args: unknown[]): boolean;
}

export interface SwimMembershipInternals {
  local: SwimMemberObject;
  hostToMember: Record<string, SwimMemberObject>;
  hostToFaulty: Record<string, SwimMemberObject>;
  hostToIterable: Record<string, SwimMemberObject>;
  hostToSuspectTimeout: Record<string, NodeJS.Timeout>;
  suspectTimeout: number;
  suspectListener: (member: SwimMemberObject) => void;
  onSuspect(member: SwimMemberObject): void;
  onUpdate(data: SwimRecord): void;
  size(hasLocal: boolean): number;
  emit(event: string, ...args: unknown[]): boolean;
  on(event: 'update' | 'change', listener: (data: SwimRecord) => void): void;
}

export interface SwimFailureDetectorInternals {
  interval: number;
  pingTimeout: number;
  pingReqTimeout: number;
  pingReqGroupSize: number;
  seq: number;
  seqToTimeout: Record<number, NodeJS.Timeout>;
  seqToCallback: Record<number, (...args: unknown[]) => void>;
  ackListener: (data: { seq: number }) => void;
  onAck(data: { seq: number }): void;
  pingMember(member: SwimMemberObject | undefined): void;
  pingReq(member: SwimMemberObject): void;
  pingReqThroughMember(member: SwimMemberObject, relay: SwimMemberObject, callback: () => void): void;
  clearSeq(seq: number): void;
}

/** A queued change: the record plus how often it was sent. The same object is re-queued per send. */
export interface SwimQueuedUpdate extends SwimRecord {
  attempts: number;
}

export interface SwimDisseminatorInternals {
  disseminationFormula: (factor: number, size: number) => number;
  getUpdatesUpTo(bytesAvailable: number): Buffer[];
  serializeUpdate(update: SwimQueuedUpdate): Buffer;
  updateDisseminationLimit(): void;
}

export interface SwimInstance {
  net: SwimNetInternals;
  membership: SwimMembershipInternals;
  failureDetector: SwimFailureDetectorInternals;
  disseminator: SwimDisseminatorInternals;
  bootstrap(hosts: string[], callback: (error?: Error) => void): void;
  leave(): void;
  updateMeta(meta: unknown): void;
  on(event: 'error', listener: (error: Error) => void): void;
}

export interface SwimOptions {
  local: { host: string; meta: unknown; incarnation: number };
  codec: 'msgpack';
  disseminationFactor: number;
  interval: number;
  pingTimeout: number;
  pingReqTimeout: number;
  pingReqGroupSize: number;
  suspectTimeout: number;
  preferCurrentMeta: boolean;
  udp: { type: 'udp4' | 'udp6'; maxDgramSize: number };
}

type SwimConstructor = new (options: SwimOptions) => SwimInstance;

const require = createRequire(import.meta.url);

export function createSwim(options: SwimOptions): SwimInstance {
  const Swim = require('swim') as SwimConstructor;
  const swim = new Swim(options);
  assertSwimShape(swim);
  return swim;
}

/** The installed swim lacks an internal the engine drives (code SWIM_VERSION). */
export class SwimVersionError extends SniffmeshError {
  override name = 'SwimVersionError';
  constructor(message: string) {
    super('SWIM_VERSION', message);
  }
}

function assertSwimShape(swim: SwimInstance): void {
  const checks: Array<[string, unknown]> = [
    ['net.sendBuffer', swim.net?.sendBuffer],
    ['net.sendMessages', swim.net?.sendMessages],
    ['net.makeCompoundMessage', swim.net?.makeCompoundMessage],
    ['membership.onSuspect', swim.membership?.onSuspect],
    ['membership.onUpdate', swim.membership?.onUpdate],
    ['membership.hostToMember', swim.membership?.hostToMember],
    ['membership.hostToFaulty', swim.membership?.hostToFaulty],
    ['failureDetector.pingReqThroughMember', swim.failureDetector?.pingReqThroughMember],
    ['membership.hostToSuspectTimeout', swim.membership?.hostToSuspectTimeout],
    ['failureDetector.pingMember', swim.failureDetector?.pingMember],
    ['failureDetector.pingReq', swim.failureDetector?.pingReq],
    ['failureDetector.onAck', swim.failureDetector?.onAck],
    ['failureDetector.seqToCallback', swim.failureDetector?.seqToCallback],
    ['disseminator.getUpdatesUpTo', swim.disseminator?.getUpdatesUpTo],
    ['disseminator.serializeUpdate', swim.disseminator?.serializeUpdate],
  ];
  for (const [name, value] of checks) {
    if (value === undefined || value === null) {
      throw new SwimVersionError(`the installed swim package lacks ${name}: sniffmesh needs swim 0.6.0`);
    }
  }
}
