import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkCaptureFile } from '../../../src/node/capture/capture-file-check.js';
import { CaptureFileError } from '../../../src/util/errors.js';
import { CaptureScratch, readCapture } from '../../helpers/capture-file-runner.js';
import { buildPcap, frameBytes, gzip, PcapngBuilder } from '../../helpers/capture-writer.js';

/**
 * The check an agent makes before it joins (agent-exit-codes.test.ts runs it through the CLI): it
 * refuses exactly the files a replay would fail on before its first frame, with the replay's own error,
 * and never reads from what can be read only once.
 */
/** A check that has not resolved after this has opened the FIFO and is blocked in it. */
const FIFO_WAIT_MS = 2000;
const scratch = new CaptureScratch();
const fifoDir = mkdtempSync(path.join(tmpdir(), 'sniffmesh-check-'));
afterAll(() => {
  scratch.cleanup();
  rmSync(fifoDir, { recursive: true, force: true });
});

const record = (seconds: number) => ({ seconds, fraction: 0, data: frameBytes(60, seconds) });

async function checkError(file: string): Promise<unknown> {
  return checkCaptureFile(file).then(
    () => null,
    (error: unknown) => error,
  );
}

describe('checkCaptureFile', () => {
  it('accepts sound files, plain and gzip, pcap and pcapng, with frames or none', async () => {
    const pcap = buildPcap({ records: [record(1), record(2)] }).bytes;
    const headerOnly = buildPcap({ records: [] }).bytes;
    const ng = new PcapngBuilder()
      .section()
      .interface({ linkType: 1 })
      .enhancedPacket({ interfaceIndex: 0, timestamp: 1n, data: frameBytes(60, 0) })
      .build().bytes;
    for (const bytes of [pcap, headerOnly, ng, gzip(pcap), gzip(ng)]) {
      await expect(checkCaptureFile(scratch.write(bytes))).resolves.toBeUndefined();
    }
  });

  it('accepts damage after the first frame, which the replay reports after counting the frames', async () => {
    const built = buildPcap({ records: [record(1), { ...record(2), capturedLengthField: 0xffff_ffff }] });
    const file = scratch.write(built.bytes);
    await expect(checkCaptureFile(file)).resolves.toBeUndefined();
    const replayed = await readCapture(file);
    expect(replayed.frames).toHaveLength(1);
    expect(replayed.error).toBeInstanceOf(CaptureFileError);
  });

  it('refuses what a replay fails on before its first frame, with the replay’s own error', async () => {
    const files = [
      path.join(fifoDir, 'missing.pcap'),
      fifoDir,
      scratch.write(Buffer.alloc(0)),
      scratch.write(Buffer.from('not a capture at all')),
      scratch.write(buildPcap({ versionMajor: 3, records: [record(1)] }).bytes),
      scratch.write(buildPcap({ records: [{ ...record(1), capturedLengthField: 0xffff_ffff }] }).bytes),
      scratch.write(buildPcap({ records: [record(1)] }).bytes.subarray(0, 30)),
      scratch.write(
        new PcapngBuilder()
          .section()
          .simplePacket({ data: frameBytes(8, 0) })
          .build().bytes,
      ),
    ];
    for (const file of files) {
      const error = await checkError(file);
      expect(error, file).toBeInstanceOf(CaptureFileError);
      const replayed = await readCapture(file);
      expect(replayed.frames, file).toHaveLength(0);
      expect((error as CaptureFileError).message, file).toBe(replayed.error?.message);
    }
  });

  it('does not open a FIFO (its bytes are the replay’s): resolves with no writer attached', async () => {
    const fifo = path.join(fifoDir, 'capture.fifo');
    execFileSync('mkfifo', [fifo]);
    // Opening a FIFO for reading blocks until a writer comes; none will, so a check that opened it
    // would never resolve.
    const outcome = await Promise.race([
      checkCaptureFile(fifo).then(() => 'resolved'),
      new Promise((resolve) => setTimeout(() => resolve('still waiting'), FIFO_WAIT_MS)),
    ]);
    try {
      expect(outcome).toBe('resolved');
    } finally {
      // Release a reader blocked in open (only a regression leaves one): a writer end that closes at once.
      try {
        closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        // ENXIO: no reader waiting, as it should be.
      }
    }
  });

  it('does not read standard input', async () => {
    await expect(checkCaptureFile('-')).resolves.toBeUndefined();
  });
});
