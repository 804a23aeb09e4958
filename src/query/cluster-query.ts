import { randomBytes } from 'node:crypto';
import type { MemberInfo } from '../membership/member.js';
import type { Membership } from '../membership/membership.js';
import type { LocalQueryEngine } from '../node/agent/local-query-engine.js';
import { type ClusterTopResult, clusterTop, type MergeAnswer, type MergeHint } from './cluster-top.js';
import {
  MergeResponse,
  type MergeWindow,
  type NodeOutcome,
  NodeStatus,
  type TopTalkersResponse,
  type UndecodedCount,
} from './generated/sniffmesh.js';
import { quoteInput } from './input-quote.js';
import type { PeerPool } from './peer-pool.js';
import { mergeResponseToWire, queryWindowFromWire } from './phase-wire.js';
import type { QueryConfig } from './query-config.js';
import { type ValidTopRequest, validateMergeRequest } from './request-validation.js';
import { InvalidRequestError } from './service-errors.js';

/** Names an error message lists at most (members, unknown names): then "and N more". */
const MAX_NAMES_LISTED = 8;

function listed(names: readonly string[]): string {
  if (names.length <= MAX_NAMES_LISTED) return names.join(', ');
  return `${names.slice(0, MAX_NAMES_LISTED).join(', ')} and ${names.length - MAX_NAMES_LISTED} more`;
}

/** Questions whose previous answer is kept as a hint (dashboards and watchers repeat a few). */
const MAX_HINTS = 32;

/** One member a query asks: this node (through its engine) or a peer (through gRPC). */
interface QueryTarget {
  readonly member: MemberInfo;
}

/** A member not asked, and whether its absence makes the answer incomplete. */
interface SkippedMember {
  readonly member: MemberInfo;
  readonly reason: string;
  /** True when the member may hold data the answer lacks (suspect, failed). */
  readonly missing: boolean;
}

/**
 * Runs TopTalkers on the node that was asked: local scope reads this node only; cluster scope pins the
 * window, chooses whom to ask from the membership, runs the exact merge (cluster-top.ts) and reports every
 * member's outcome. Peers are asked with local-scope merge phases only, so queries never loop.
 */
export class ClusterQuery {
  /** The previous answer's hint per question (cluster-top.ts MergeHint), most recent last. */
  private readonly hints = new Map<string, MergeHint>();

  constructor(
    private readonly membership: Membership,
    /** null when this node captures nothing. */
    private readonly engine: LocalQueryEngine | null,
    private readonly peers: PeerPool,
    private readonly config: QueryConfig,
  ) {}

  async topTalkers(request: ValidTopRequest): Promise<TopTalkersResponse> {
    const started = performance.now();
    const deadlineAt = started + request.deadlineMs;
    const queryId = randomBytes(8).toString('hex');
    const toSecond = Math.floor((Date.now() - this.config.closedSecondLagMs) / 1000);
    const fromSecond = request.windowSeconds > 0 ? toSecond - request.windowSeconds + 1 : 0;
    const window: MergeWindow = {
      group: request.group,
      by: request.by,
      fromSecond,
      toSecond,
      filters: request.filters,
      memberNetworks: [],
    };
    const response: TopTalkersResponse = {
      group: request.group,
      by: request.by,
      rows: [],
      nodes: [],
      exact: false,
      windowFromSecond: fromSecond,
      windowToSecond: toSecond,
      rowsTransferred: 0,
      bytesTransferred: 0,
      totals: undefined,
      undecoded: [],
      evictedPackets: 0,
      evictedBytes: 0,
      windowSeconds: request.windowSeconds,
      windowComplete: true,
      missingNodes: [],
      queryId,
      groups: 0,
      elapsedMs: 0,
    };
    if (request.scope === 'local') return this.localTop(request, window, response, started);

    const { targets, skipped } = this.chooseTargets(request.filters.nodes);
    // The counting rule: every node asked counts the traffic it sent; receivers skip traffic from them.
    // Sorted: the same members give the same list (and the same cached table on every node).
    window.memberNetworks = [...new Set(targets.flatMap((t) => t.member.networks))].sort();
    this.peers.retainOnly(new Set(this.membership.members().map((m) => m.id)));
    const shape = JSON.stringify([
      request.group,
      request.by,
      request.windowSeconds,
      request.limit,
      request.filters,
    ]);
    const hint = this.config.mergeHints ? this.hints.get(shape) : undefined;
    const result = await clusterTop<QueryTarget>({
      queryId,
      ...(hint === undefined ? {} : { hint }),
      window,
      k: request.limit,
      targets,
      deadlineAt,
      concurrency: this.config.fanOutConcurrency,
      ask: (target, mergeRequest, signal) => {
        if (target.member.local) {
          if (this.engine === null) return Promise.reject(new Error('this node captures nothing'));
          // Checked as a peer's request would be: the same answer whichever node coordinates.
          return this.engine.merge(validateMergeRequest(mergeRequest, this.config)).then((answer) => {
            const response = mergeResponseToWire(answer);
            return { response, bytes: MergeResponse.encode(response).finish().length } satisfies MergeAnswer;
          });
        }
        return this.peers.merge(target.member, mergeRequest, signal);
      },
    });
    this.hints.delete(shape);
    this.hints.set(shape, result.nextHint);
    if (this.hints.size > MAX_HINTS) this.hints.delete(this.hints.keys().next().value as string);
    this.fillFromResult(response, result, skipped);
    response.elapsedMs = performance.now() - started;
    return response;
  }

  /** Members to ask, and every other member with the reason it is not asked. */
  private chooseTargets(onlyNames: readonly string[]): { targets: QueryTarget[]; skipped: SkippedMember[] } {
    const members = this.membership.members();
    if (onlyNames.length > 0) {
      const known = new Set(members.map((m) => m.name));
      const unknown = onlyNames.filter((name) => !known.has(name));
      if (unknown.length > 0) {
        throw new InvalidRequestError(
          `filters.nodes: no member named ${listed(unknown.map((n) => quoteInput(n)))} ` +
            `(members: ${listed([...known].sort())})`,
        );
      }
    }
    const only = new Set(onlyNames);
    const targets: QueryTarget[] = [];
    const skipped: SkippedMember[] = [];
    for (const member of members) {
      const skip = (reason: string, missing: boolean) => skipped.push({ member, reason, missing });
      if (only.size > 0 && !only.has(member.name)) skip('not selected by the nodes filter', false);
      else if (member.state === 'left') skip('left the cluster', false);
      else if (member.state === 'failed') skip('failed (declared dead by gossip): its data is missing', true);
      else if (member.state === 'suspect')
        skip('suspect (missed probes): not asked, its data is missing', true);
      else if (member.local && this.engine === null) skip('captures nothing (agent --no-capture)', false);
      else if (!member.local && member.captureInterface === '') skip('captures nothing', false);
      else if (!member.local && member.grpc === '') skip('serves no gRPC (no --grpc)', true);
      else targets.push({ member });
    }
    return { targets, skipped };
  }

  private fillFromResult(
    response: TopTalkersResponse,
    result: ClusterTopResult<QueryTarget>,
    skipped: SkippedMember[],
  ): void {
    response.rows = result.rows;
    response.totals = result.totals;
    response.undecoded = undecodedList(result.undecoded);
    response.evictedPackets = result.evictedPackets;
    response.evictedBytes = result.evictedBytes;
    response.windowComplete = result.windowComplete;
    response.rowsTransferred = result.rowsTransferred;
    response.bytesTransferred = result.bytesTransferred;
    const outcomes: NodeOutcome[] = [];
    for (const node of result.nodes) {
      const status =
        node.status === 'ok'
          ? NodeStatus.NODE_STATUS_OK
          : node.status === 'timeout'
            ? NodeStatus.NODE_STATUS_TIMEOUT
            : NodeStatus.NODE_STATUS_FAILED;
      const phase = node.phase === undefined ? '' : ` (phase ${node.phase} of 3)`;
      outcomes.push({
        name: node.target.member.name,
        address: node.target.member.grpc,
        status,
        error: node.status === 'ok' ? '' : `${node.error ?? 'no answer'}${phase}`,
        latencyMs: node.latencyMs,
        code: node.code,
        windowComplete: node.windowComplete ?? false,
        windowToSecond: node.windowToSecond ?? 0,
      });
      if (node.status !== 'ok') response.missingNodes.push(node.target.member.name);
    }
    for (const skip of skipped) {
      outcomes.push({
        name: skip.member.name,
        address: skip.member.grpc,
        status: NodeStatus.NODE_STATUS_SKIPPED,
        error: skip.reason,
        latencyMs: 0,
        code: 0,
        windowComplete: false,
        windowToSecond: 0,
      });
      if (skip.missing) response.missingNodes.push(skip.member.name);
    }
    response.nodes = outcomes.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    response.exact =
      response.missingNodes.length === 0 &&
      result.nodes.length > 0 &&
      result.windowComplete &&
      result.evictedPackets === 0;
  }

  private async localTop(
    request: ValidTopRequest,
    window: MergeWindow,
    response: TopTalkersResponse,
    started: number,
  ): Promise<TopTalkersResponse> {
    const self = this.membership.self();
    if (this.engine === null) {
      throw new InvalidRequestError(
        `${self.name} captures nothing (agent --no-capture): ask a capturing node`,
      );
    }
    const answer = await this.engine.localTop(queryWindowFromWire(window), request.limit);
    response.rows = answer.rows;
    response.totals = answer.totals ?? undefined;
    response.undecoded = answer.undecoded;
    response.evictedPackets = answer.evictedPackets;
    response.evictedBytes = answer.evictedBytes;
    response.windowComplete = answer.windowComplete;
    response.groups = answer.groups;
    response.exact = answer.windowComplete && answer.evictedPackets === 0;
    response.nodes = [
      {
        name: self.name,
        address: self.grpc,
        status: NodeStatus.NODE_STATUS_OK,
        error: '',
        latencyMs: performance.now() - started,
        code: 0,
        windowComplete: answer.windowComplete,
        windowToSecond: answer.windowToSecond ?? 0,
      },
    ];
    response.elapsedMs = performance.now() - started;
    return response;
  }
}

function undecodedList(undecoded: Map<string, number>): UndecodedCount[] {
  return [...undecoded]
    .filter(([, packets]) => packets > 0)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([reason, packets]) => ({ reason, packets }));
}
