import { describe, expect, it } from 'vitest';
import { FlowStoreQueryEngine } from '../../../src/node/agent/flow-store-query-engine.js';
import {
  PHASE_ABOVE_THRESHOLD,
  PHASE_EXACT,
  PHASE_LOCAL_TOP,
  type PhaseRequest,
  type QueryWindow,
} from '../../../src/node/agent/local-query-engine.js';
import type { FlowStore } from '../../../src/node/flows/flow-store.js';
import { GROUPINGS } from '../../../src/node/flows/key-vocabulary.js';
import { EPOCH_SECOND } from '../../helpers/random-traffic.js';
import { everythingReadable, feed, newStore } from '../../helpers/twin-stores.js';

/**
 * Queries never change stored data (issue: "a read changes what a node stores"): no request moves the
 * store's clock, closes a second early or changes which second a later frame counts in. A window whose
 * newest second is not closed yet is answered from what is closed, and the answer says so.
 */

const S = EPOCH_SECOND;

function engineOf(store: FlowStore): FlowStoreQueryEngine {
  return new FlowStoreQueryEngine(
    store,
    { captureInterface: 'test', captureFilter: '', tableTtlMs: 30_000, tableCacheEntries: 4, nowMs: () => 0 },
    'a',
  );
}

function request(window: QueryWindow, phase: PhaseRequest['phase'], keys: string[] = []): PhaseRequest {
  return { queryId: 'q', window, phase, k: 5, threshold: phase === PHASE_ABOVE_THRESHOLD ? 1 : 0, keys };
}

describe('queries only read', () => {
  it('a merge of every phase with a future to_second leaves every later window equal to a node never asked', () => {
    const asked = newStore();
    const never = newStore();
    // Seconds S..S+9 counted; S+9 is still open (no frame of S+10 yet, no clock).
    feed([asked, never], S, S + 9, 1);
    expect(asked.lastClosedSecond).toBe(S + 8);
    const engine = engineOf(asked);
    for (const group of GROUPINGS) {
      for (const toSecond of [S + 9, S + 12, S + 40]) {
        const window: QueryWindow = {
          group,
          by: 'bytes',
          fromSecond: S + 2,
          toSecond,
          filters: { cidrs: [], ports: [], protocols: [] },
          memberNetworks: ['198.19.100.0/24'],
        };
        const first = engine.mergeNow(request(window, PHASE_LOCAL_TOP));
        // Answered from the closed seconds, and saying so.
        expect(first.windowComplete).toBe(false);
        expect(first.windowToSecond).toBe(S + 8);
        expect(first.rows.length).toBeGreaterThan(0);
        engine.mergeNow(request(window, PHASE_ABOVE_THRESHOLD));
        engine.mergeNow(
          request(
            window,
            PHASE_EXACT,
            first.rows.map((row) => row.key),
          ),
        );
        const local = engine.localTopNow(window, 0);
        expect(local.windowComplete).toBe(false);
        expect(local.windowToSecond).toBe(S + 8);
      }
    }
    expect(asked.lastClosedSecond).toBe(S + 8);
    // Later traffic, also stamped in the seconds the requests named.
    feed([asked, never], S + 9, S + 45, 2);
    asked.advanceTo(S + 46);
    never.advanceTo(S + 46);
    expect(everythingReadable(asked, S + 45, S)).toEqual(everythingReadable(never, S + 45, S));
  });

  it('a window closed later is answered again with the new seconds (the cached partial table is not reused)', () => {
    const store = newStore();
    feed([store], S, S + 5, 3);
    const engine = engineOf(store);
    const window: QueryWindow = {
      group: 'host',
      by: 'packets',
      fromSecond: S,
      toSecond: S + 7,
      filters: { cidrs: [], ports: [], protocols: [] },
      memberNetworks: [],
    };
    const early = engine.mergeNow(request(window, PHASE_LOCAL_TOP));
    expect([early.windowComplete, early.windowToSecond]).toEqual([false, S + 4]);
    feed([store], S + 5, S + 7, 4);
    store.advanceTo(S + 8);
    const later = engine.mergeNow(request(window, PHASE_LOCAL_TOP));
    expect([later.windowComplete, later.windowToSecond]).toEqual([true, S + 7]);
    expect(later.totals?.packets).toBeGreaterThan(early.totals?.packets ?? 0);
  });

  it('a window sliding over quiet seconds reuses its table (one build per data change), naming its own end', () => {
    const store = newStore();
    feed([store], S, S + 5, 5);
    store.advanceTo(S + 6);
    const engine = engineOf(store);
    const ask = (to: number) =>
      engine.mergeNow(
        request(
          {
            group: 'host',
            by: 'bytes',
            fromSecond: 0,
            toSecond: to,
            filters: { cidrs: [], ports: [], protocols: [] },
            memberNetworks: [],
          },
          PHASE_LOCAL_TOP,
        ),
      );
    const first = ask(S + 5);
    // The clock closes seconds without traffic; the same question asked a second and two later.
    for (const to of [S + 6, S + 7]) {
      store.advanceTo(to + 1);
      const later = ask(to);
      expect([later.windowComplete, later.windowToSecond]).toEqual([true, to]);
      expect(later.rows).toEqual(first.rows);
    }
    expect(engine.tablesBuiltOnDemand).toBe(1);
  });
});
