import { stat } from 'node:fs/promises';
import { CaptureFileError } from '../../util/errors.js';
import { openCaptureFile, STDIN_PATH } from './capture-file-source.js';
import type { FrameSink } from './frame-sink.js';

/**
 * Read size of the check: small, because it stops at the first frame and a file's first frame starts
 * within a few hundred bytes (pcap: byte 24; pcapng: after the section and interface blocks).
 */
const CHECK_READ_CHUNK_BYTES = 64 * 1024;

/**
 * Checks, before an agent joins the mesh, that a file it is about to replay can be replayed: it opens,
 * is readable, is a capture (pcap or pcapng, optionally gzip-compressed), and its headers parse up to
 * the first frame or to a clean end. Rejects with the same CaptureFileError the replay would end with
 * before delivering any frame, so an agent given a bad --pcap fails before anyone learns about it.
 *
 * Damage after the first frame passes the check, as it does at replay time: those frames are counted
 * and stay queryable, and the replay reports the damage. Standard input (`-`), FIFOs and devices
 * cannot be looked at without consuming them and are not checked (resolves at once).
 */
export async function checkCaptureFile(path: string): Promise<void> {
  if (path === STDIN_PATH) return;
  // A FIFO or a device is read once, like standard input: looking at it would take bytes the replay
  // needs. Only regular files (and what is not there, or a directory: the reader's open says why) are
  // checked.
  const stats = await stat(path).catch(() => null);
  if (stats !== null && !stats.isFile() && !stats.isDirectory()) return;
  const stopAtFirstFrame = new AbortController();
  let sawFrame = false;
  const sink: FrameSink = {
    onFrame() {
      sawFrame = true;
      stopAtFirstFrame.abort();
    },
  };
  try {
    await openCaptureFile(path, { readChunkBytes: CHECK_READ_CHUNK_BYTES }).run(
      sink,
      stopAtFirstFrame.signal,
    );
  } catch (error) {
    // Damage behind a first good frame is the replay's to report (it counts the frames before it).
    if (error instanceof CaptureFileError && sawFrame) return;
    throw error;
  }
}
