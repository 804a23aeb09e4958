import { formatCount, formatRate } from './format.js';

/** What a progress line needs to know, read on every refresh. */
export interface ProgressProbe {
  bytesRead(): number;
  /** Total bytes when known (a regular, uncompressed file). */
  totalBytes(): number | null;
  frames(): number;
}

const REFRESH_MS = 250;

/**
 * A single refreshing status line on stderr for long file analyses, shown only when stderr is a
 * terminal so that pipes and CI logs stay clean. Erased when stopped.
 */
export class ProgressLine {
  private timer: NodeJS.Timeout | null = null;
  private readonly startedAt = performance.now();

  constructor(
    private readonly label: string,
    private readonly probe: ProgressProbe,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  start(): void {
    if (!this.stream.isTTY) return;
    this.timer = setInterval(() => this.draw(), REFRESH_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
    this.stream.write('\r\x1b[K');
  }

  private draw(): void {
    const seconds = (performance.now() - this.startedAt) / 1000;
    const frames = this.probe.frames();
    const total = this.probe.totalBytes();
    const done = this.probe.bytesRead();
    const percent = total !== null && total > 0 ? `${Math.min(100, (100 * done) / total).toFixed(0)}% ` : '';
    const rate = seconds > 0 ? `${formatRate(frames / seconds)} frames/s` : '';
    this.stream.write(`\r\x1b[K${this.label}: ${percent}${formatCount(frames)} frames ${rate}`);
  }
}
