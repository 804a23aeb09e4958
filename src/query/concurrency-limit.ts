import { LimitExceededError } from './service-errors.js';

/** Gives back a slot taken with ConcurrencyLimit.acquire; calling it again does nothing. */
export type Release = () => void;

export interface ConcurrencyLimitOptions {
  /** What is limited, as a message names it: "concurrent queries", "open watch streams". */
  readonly what: string;
  /** The QueryConfig fields of the two limits, named in the error. */
  readonly perNodeName: string;
  readonly perClientName: string;
  readonly perNode: number;
  readonly perClient: number;
}

/**
 * Slots for work in flight, per node and per client: a call takes one before any work and gives it back
 * when done; with no slot free it is refused at once (LimitExceededError = RESOURCE_EXHAUSTED) rather
 * than queued, so an overloaded node answers "too busy" instead of starving every call past its deadline.
 */
export class ConcurrencyLimit {
  private total = 0;
  private readonly byClient = new Map<string, number>();

  constructor(private readonly options: ConcurrencyLimitOptions) {}

  /** Slots in use (all clients). */
  get inUse(): number {
    return this.total;
  }

  /** Takes a slot for `client`, or throws LimitExceededError naming the limit reached. */
  acquire(client: string): Release {
    const o = this.options;
    const mine = this.byClient.get(client) ?? 0;
    if (mine >= o.perClient) {
      throw new LimitExceededError(
        o.perClientName,
        o.perClient,
        `too many ${o.what} from this client: at most ${o.perClient} (${o.perClientName}); try again when one has finished`,
      );
    }
    if (this.total >= o.perNode) {
      throw new LimitExceededError(
        o.perNodeName,
        o.perNode,
        `too many ${o.what} on this node: at most ${o.perNode} (${o.perNodeName}); try again shortly`,
      );
    }
    this.total++;
    this.byClient.set(client, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.byClient.get(client) ?? 1) - 1;
      if (left === 0) this.byClient.delete(client);
      else this.byClient.set(client, left);
    };
  }
}
