/**
 * Every member's view of the cluster, rebuilt from the observations the drivers report, and waits for
 * conditions on those views. A wait answers with the time (the observation's own timestamp) at which
 * each observer's view last became true, so slow reading of pipes does not count against a member.
 */

import type { MemberObserver, MemberState, ObservedChange, ObservedSuspicion } from './member-driver.js';

export type MemberView = ReadonlyMap<string, MemberState>;
export type ViewCondition = (view: MemberView) => boolean;

export interface ViewWaitResult {
  /** Observer -> epoch ms at which its view last turned true; missing = not true when the wait ended. */
  times: Map<string, number>;
  missing: string[];
}

interface ViewWaiter {
  observers: Set<string>;
  condition: ViewCondition;
  times: Map<string, number>;
  finish: () => void;
}

/** Every name is in the view as a member (alive or suspect). */
export function listsAll(names: Iterable<string>): ViewCondition {
  const wanted = [...names];
  return (view) => wanted.every((name) => isMember(view.get(name)));
}

/** Every subject is in one of the states. */
export function seesAs(subjects: Iterable<string>, states: readonly MemberState[]): ViewCondition {
  const wanted = [...subjects];
  return (view) => wanted.every((name) => states.includes(view.get(name) as MemberState));
}

export function isMember(state: MemberState | undefined): boolean {
  return state === 'alive' || state === 'suspect';
}

export class ViewTracker implements MemberObserver {
  readonly changes: ObservedChange[] = [];
  readonly suspicions: ObservedSuspicion[] = [];
  private readonly views = new Map<string, Map<string, MemberState>>();
  private readonly lastChangeMs = new Map<string, number>();
  private readonly upTimes = new Map<string, number>();
  private readonly waiters = new Set<ViewWaiter>();
  private readonly upListeners = new Set<() => void>();

  up(name: string, timeMs: number): void {
    if (!this.upTimes.has(name)) this.upTimes.set(name, timeMs);
    for (const listener of [...this.upListeners]) listener();
  }

  change(change: ObservedChange): void {
    this.changes.push(change);
    let view = this.views.get(change.observer);
    if (!view) {
      view = new Map();
      this.views.set(change.observer, view);
    }
    if (change.state === 'removed') view.delete(change.subject);
    else view.set(change.subject, change.state);
    this.lastChangeMs.set(change.observer, change.timeMs);
    for (const waiter of [...this.waiters]) {
      if (!waiter.observers.has(change.observer)) continue;
      this.evaluate(waiter, change.observer, change.timeMs);
      if (waiter.times.size === waiter.observers.size) waiter.finish();
    }
  }

  suspicion(suspicion: ObservedSuspicion): void {
    this.suspicions.push(suspicion);
  }

  view(observer: string): MemberView {
    return this.views.get(observer) ?? new Map();
  }

  upTime(name: string): number | undefined {
    return this.upTimes.get(name);
  }

  /** Resolves with the up times once every name is up, or with undefined after `timeoutMs`. */
  waitUntilUp(names: readonly string[], timeoutMs: number): Promise<number[] | undefined> {
    return new Promise((resolve) => {
      const check = () => {
        if (!names.every((name) => this.upTimes.has(name))) return false;
        done(names.map((name) => this.upTimes.get(name)!));
        return true;
      };
      const done = (result: number[] | undefined) => {
        clearTimeout(timer);
        this.upListeners.delete(listener);
        resolve(result);
      };
      const listener = () => void check();
      const timer = setTimeout(() => done(undefined), timeoutMs);
      this.upListeners.add(listener);
      check();
    });
  }

  /**
   * Waits until `condition` holds for every observer at once, or `timeoutMs` passes. An observer whose
   * view already satisfies the condition counts from its last change.
   */
  waitForViews(
    observers: readonly string[],
    condition: ViewCondition,
    timeoutMs: number,
  ): Promise<ViewWaitResult> {
    return new Promise((resolve) => {
      const waiter: ViewWaiter = {
        observers: new Set(observers),
        condition,
        times: new Map(),
        finish: () => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve({
            times: waiter.times,
            missing: observers.filter((observer) => !waiter.times.has(observer)),
          });
        },
      };
      const timer = setTimeout(() => waiter.finish(), timeoutMs);
      this.waiters.add(waiter);
      for (const observer of observers) this.evaluate(waiter, observer, this.lastChangeMs.get(observer) ?? 0);
      if (waiter.times.size === waiter.observers.size) waiter.finish();
    });
  }

  /** Changes (of any observer) with a timestamp in [fromMs, toMs). */
  changesBetween(fromMs: number, toMs: number): ObservedChange[] {
    return this.changes.filter((change) => change.timeMs >= fromMs && change.timeMs < toMs);
  }

  suspicionsBetween(fromMs: number, toMs: number): ObservedSuspicion[] {
    return this.suspicions.filter((suspicion) => suspicion.timeMs >= fromMs && suspicion.timeMs < toMs);
  }

  private evaluate(waiter: ViewWaiter, observer: string, timeMs: number): void {
    if (waiter.condition(this.view(observer))) {
      if (!waiter.times.has(observer)) waiter.times.set(observer, timeMs);
    } else {
      waiter.times.delete(observer);
    }
  }
}
