import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  type CaptureFileOptions,
  type CaptureFileSource,
  openCaptureFile,
} from '../../src/node/capture/capture-file-source.js';
import { CaptureFileError } from '../../src/util/errors.js';
import { type CollectedFrame, FrameCollector } from './frame-collector.js';

/** What reading one capture produced: the frames delivered, and the error run() rejected with. */
export interface CaptureReadResult {
  frames: CollectedFrame[];
  error: CaptureFileError | null;
  source: CaptureFileSource;
}

/** Scratch files for capture tests, all under one os.tmpdir() folder removed by cleanup(). */
export class CaptureScratch {
  private dir: string | null = null;
  private count = 0;

  write(bytes: Uint8Array, name = 'capture'): string {
    if (this.dir === null) {
      this.dir = mkdtempSync(path.join(tmpdir(), 'sniffmesh-capture-test-'));
      // An agent started as root reads --pcap files as the user it drops to (nobody): mkdtemp's 0700
      // would hide them. The files are test data, not secrets.
      chmodSync(this.dir, 0o755);
    }
    const file = path.join(this.dir, `${this.count++}-${name}`);
    writeFileSync(file, bytes);
    return file;
  }

  cleanup(): void {
    if (this.dir !== null) rmSync(this.dir, { recursive: true, force: true });
    this.dir = null;
  }
}

/**
 * Runs a capture-file source over `file` and collects what it delivers. Any rejection other than a
 * CaptureFileError is rethrown: the reader promises never to fail any other way.
 */
export async function readCapture(
  file: string,
  options: CaptureFileOptions = {},
  signal?: AbortSignal,
): Promise<CaptureReadResult> {
  const source = openCaptureFile(file, options);
  const collector = new FrameCollector();
  let error: CaptureFileError | null = null;
  try {
    await source.run(collector, signal);
  } catch (caught) {
    if (!(caught instanceof CaptureFileError)) throw caught;
    error = caught;
  }
  return { frames: collector.frames, error, source };
}
