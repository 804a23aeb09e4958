import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Reference frames for decoder tests: runs test/helpers/scapy-frames.py once (per test file that asks)
 * and returns its cases. The script builds frames with scapy and dissects the bytes with scapy, so the
 * expected fields come from an implementation that shares nothing with ours.
 */

const SCRIPT_PATH = path.join(path.dirname(fileURLToPath(import.meta.url)), 'scapy-frames.py');
/** Debian's python3-scapy lives in the system interpreter; a pyenv or venv `python3` may not see it. */
const PYTHON_CANDIDATES = [process.env.SNIFFMESH_PYTHON, '/usr/bin/python3', 'python3'].filter(
  (p): p is string => p !== undefined && p !== '',
);
const SCRIPT_OUTPUT_MAX_BYTES = 64 * 1024 * 1024;

/** Decode outcome names as in decode-outcome.ts UNDECODED_REASON_NAMES. */
export type OutcomeName = 'decoded' | 'unsupported-link-type' | 'truncated' | 'bad-header' | 'not-ip';

/** What scapy found in the frame; addresses are 4 words in network order (IPv4 in word 0). */
export interface ScapyExpectation {
  outcome: OutcomeName;
  ipVersion: number;
  protocol: number;
  src: number[];
  dst: number[];
  srcPort: number;
  dstPort: number;
  tcpFlags: number;
  nonFirstFragment: boolean;
}

/** Byte offsets within the frame (for the truncation sweep); null fields do not apply to the frame. */
export interface ScapyLayout {
  ipOffset: number;
  /** First byte after both IP addresses: a frame cut before it cannot be decoded. */
  addressesEnd: number;
  transportOffset: number | null;
  /** First byte after the ports (ICMP: after type and code). */
  portsEnd: number | null;
  /** First byte after the TCP flags byte. */
  flagsEnd: number | null;
  /** IPv6: the next-header values along the extension-header chain, the transport protocol last. */
  chain: number[];
}

export interface ScapyFrameCase {
  name: string;
  linkType: number;
  frame: Uint8Array;
  expected: ScapyExpectation;
  /** Null when the frame is not decoded. */
  layout: ScapyLayout | null;
  /** True for the frames whose every truncation point the tests check. */
  sweep: boolean;
}

export interface ScapyFrames {
  scapyVersion: string;
  /** Link types the oracle dissects; every other link type is expected to be unsupported. */
  supportedLinkTypes: number[];
  cases: ScapyFrameCase[];
}

interface RawCase extends Omit<ScapyFrameCase, 'frame'> {
  hex: string;
}

function findPythonWithScapy(): string {
  for (const python of PYTHON_CANDIDATES) {
    const probe = spawnSync(python, ['-c', 'import scapy'], { stdio: 'ignore' });
    if (probe.status === 0) return python;
  }
  throw new Error(
    `no python3 with scapy found (tried ${PYTHON_CANDIDATES.join(', ')}): run scripts/setup.sh ` +
      '(installs Debian python3-scapy) or set SNIFFMESH_PYTHON',
  );
}

let cached: ScapyFrames | null = null;

/** Runs the scapy script (once per process) and returns its frames. Throws when scapy is missing. */
export function loadScapyFrames(): ScapyFrames {
  if (cached !== null) return cached;
  const python = findPythonWithScapy();
  const output = execFileSync(python, [SCRIPT_PATH], {
    encoding: 'utf8',
    maxBuffer: SCRIPT_OUTPUT_MAX_BYTES,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const parsed = JSON.parse(output) as {
    scapyVersion: string;
    supportedLinkTypes: number[];
    cases: RawCase[];
  };
  cached = {
    scapyVersion: parsed.scapyVersion,
    supportedLinkTypes: parsed.supportedLinkTypes,
    cases: parsed.cases.map(({ hex, ...rest }) => ({
      ...rest,
      frame: Uint8Array.from(Buffer.from(hex, 'hex')),
    })),
  };
  return cached;
}
