/**
 * Typed errors. Every error the user can cause or meet carries the context needed to fix the cause,
 * and a `code` that scripts and tests can match on. The CLI prints `message` as one line; the stack
 * trace only with --debug.
 */
export class SniffmeshError extends Error {
  override name = 'SniffmeshError';
  /** Stable machine-readable code, e.g. 'CAPTURE_FILE_CORRUPT'. */
  readonly code: string;
  /** Exit code the CLI uses: 1 runtime error, 2 usage error. */
  readonly exitCode: number;

  constructor(code: string, message: string, options?: { cause?: unknown; exitCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.exitCode = options?.exitCode ?? 1;
  }
}

/** A wrong flag or argument: exit code 2. */
export class UsageError extends SniffmeshError {
  override name = 'UsageError';
  constructor(message: string) {
    super('USAGE', message, { exitCode: 2 });
  }
}

/**
 * A capture file that cannot be read past some point. Every frame before `offset` has been delivered;
 * `offset` is the byte offset (in the uncompressed stream) of the record or block that is damaged.
 */
export class CaptureFileError extends SniffmeshError {
  override name = 'CaptureFileError';
  readonly file: string;
  readonly offset: number;
  readonly reason: string;

  constructor(file: string, offset: number, reason: string, cause?: unknown) {
    super('CAPTURE_FILE_CORRUPT', `${file}: at byte offset ${offset}: ${reason}`, { cause });
    this.file = file;
    this.offset = offset;
    this.reason = reason;
  }
}

/** Live capture could not start or failed: no permission, unknown interface, bad filter, ... */
export class LiveCaptureError extends SniffmeshError {
  override name = 'LiveCaptureError';
  readonly iface: string | undefined;

  constructor(code: string, message: string, iface?: string, cause?: unknown) {
    super(code, message, { cause });
    this.iface = iface;
  }
}
