/**
 * Every tunable of the query side, with the reason for its value (memberlist style). One object so an
 * agent, a test or a benchmark can see and change them in one place.
 */
export interface QueryConfig {
  /**
   * Deadline of a cluster query when the request gives none: 2 s. On a LAN a healthy member answers a
   * phase in well under 10 ms (bench:query), so 2 s only ever expires for a member that is hung, paused or
   * behind a dead link; long enough to ride out a GC pause or a member under heavy capture load, short
   * enough that an operator waiting at a terminal is told who is missing rather than left waiting.
   */
  defaultDeadlineMs: number;
  /**
   * Largest deadline a request may ask for: 30 s. Beyond that an answer is not interactive any more, and a
   * coordinator holding a query's state (and each node its cached window table) for longer costs memory
   * for nothing; ask again instead.
   */
  maxDeadlineMs: number;
  /**
   * Requests in flight to peers at once, per phase: 64. Fan-out is I/O-bound and each request is small,
   * so a 64-node cluster is asked in one wave; larger clusters queue rather than open hundreds of streams
   * at once (each peer answer also costs the coordinator some decode time, which queuing spreads).
   */
  fanOutConcurrency: number;
  /** Rows when a request gives no limit: 10, as in `analyze`. */
  defaultLimit: number;
  /**
   * Largest limit of a cluster-scope query: 1000. TPUT's transfer grows with k (every node sends its top
   * k and every key above tau1 / m); beyond 1000 rows an exact merge ships close to whole tables, and a
   * local query (--local, no limit) is the tool for that.
   */
  maxClusterLimit: number;
  /** WatchTop's interval when the request gives none: 2 s, a readable refresh. */
  defaultWatchIntervalSeconds: number;
  /** WatchTop's longest interval: an hour (a slower watch is a cron job asking TopTalkers). */
  maxWatchIntervalSeconds: number;
  /**
   * How long a node keeps the window table it computed for a query: 30 s = the longest deadline, so every
   * phase of a query (and identical queries in the same second, e.g. several watchers) reuse it.
   */
  windowTableTtlMs: number;
  /**
   * Window tables a node keeps at once: 4. A table of 100k groups with their key texts costs ~10 MB;
   * distinct concurrent queries beyond 4 recompute (correct, only slower).
   */
  windowTableCacheEntries: number;
  /**
   * The newest second a query reads ended at least this long ago: 1500 ms, i.e. the last whole second
   * that ended 500 ms ago or more. Every node has closed that second by then unless its clock is more than
   * half a second behind (see maxClockSkewMs for what happens then).
   * The half second beyond the closed second is for capturing nodes: when a second closes they build the
   * tables of recent questions for it in small steps (FlowStoreQueryEngine.prewarm), and queries keep
   * reading the previous second's tables until then, so no query waits tens of ms for a table build
   * (bench:query, "under capture"). The cost: answers are half a second older.
   */
  closedSecondLagMs: number;
  /**
   * How far the end of a pinned window may lie ahead of a node's own clock: 5000 ms. Queries never close
   * seconds (a read must not change what a node stores), so a node whose clock is behind the coordinator's
   * by less than closedSecondLagMs has closed the window already, and one behind by a little more answers
   * from the seconds it has closed, saying so (not exact, the node named with the newest second it read).
   * Beyond this tolerance the clocks are wrong, not late: the node refuses the phase with
   * FAILED_PRECONDITION and the answer names it with that code. NTP keeps hosts within milliseconds; a few
   * seconds covers a host whose clock is stepping back into sync.
   */
  maxClockSkewMs: number;
  /**
   * Send the previous answer's threshold and candidates with a repeated question: true. Dashboards and
   * `--watch` ask the same question again and again; with the hint, every node sends in phase 1 what
   * phases 2 and 3 would have asked for, so a repeated question is usually one round trip. The answer is
   * exact either way (a wrong hint only costs transfer); off, every question runs all three phases.
   */
  mergeHints: boolean;
  /**
   * gRPC keepalive to peers: ping after 10 s idle, so a peer that vanished without a FIN is noticed before
   * the next query rather than by it (the deadline would still bound that query).
   */
  peerKeepaliveMs: number;
  /**
   * Largest request message this node's gRPC server accepts: 4 MiB (grpc.max_receive_message_length);
   * larger ones get RESOURCE_EXHAUSTED before they are decoded. User requests are tiny (a few hundred
   * bytes; REQUEST_LIMITS bounds each field far below this); the largest legitimate request is a peer's
   * merge phase 3 naming TPUT's candidates (REQUEST_LIMITS.mergeKeys keys of at most mergeKeyChars
   * each), whose realistic size is a few thousand keys of ~50 bytes. Answers are not limited by this
   * (they are received by the asking side's clients).
   */
  maxRequestBytes: number;
  /**
   * TopTalkers calls this node works on at once: 64 (local and cluster scope alike; WatchTop's refreshes
   * are bounded by the watch limits instead). Beyond it a call gets RESOURCE_EXHAUSTED at once: measured
   * (issue 11), 1,000 concurrent cluster queries without a limit all starved each other past their deadline
   * (every node "timeout", RSS 107 -> 240 MB); 64 is the fan-out's own width, and a node answers a cached
   * question in about a millisecond, so a queue of 64 drains well within the default deadline.
   */
  maxConcurrentQueries: number;
  /**
   * TopTalkers calls one client (clientIdentityOf: its IP today, its certificate with TLS) has in flight
   * at once: 16, so one busy dashboard or script cannot take every slot of maxConcurrentQueries.
   */
  maxConcurrentQueriesPerClient: number;
  /**
   * Open watch streams (WatchTop and WatchMembers together) per node: 256. Each costs a timer and, for
   * WatchTop, a cluster query per interval: 256 watchers at the 2 s default are ~128 queries a second,
   * what one node sustains beside its capture (bench:query).
   */
  maxWatchStreams: number;
  /** Open watch streams per client: 16 (a few terminals and a dashboard's panels). */
  maxWatchStreamsPerClient: number;
  /**
   * HTTP/2 streams one connection may have open at once: 64 (grpc.max_concurrent_streams, announced in
   * the server's SETTINGS). A stream whose request never arrives never reaches a handler, so the limits
   * above cannot see it; this bounds what one connection can hold that way. 64 is four times what one
   * client may use (16 queries + 16 watches + a peer's merge stream), so no honest client meets it; a
   * client beyond it waits for a stream of its own to finish (grpc-js queues), nothing is refused.
   */
  maxStreamsPerConnection: number;
}

export const DEFAULT_QUERY_CONFIG: Readonly<QueryConfig> = Object.freeze({
  defaultDeadlineMs: 2000,
  maxDeadlineMs: 30_000,
  fanOutConcurrency: 64,
  defaultLimit: 10,
  maxClusterLimit: 1000,
  defaultWatchIntervalSeconds: 2,
  maxWatchIntervalSeconds: 3600,
  windowTableTtlMs: 30_000,
  windowTableCacheEntries: 4,
  closedSecondLagMs: 1500,
  maxClockSkewMs: 5000,
  mergeHints: true,
  peerKeepaliveMs: 10_000,
  maxRequestBytes: 4 * 1024 * 1024,
  maxConcurrentQueries: 64,
  maxConcurrentQueriesPerClient: 16,
  maxWatchStreams: 256,
  maxWatchStreamsPerClient: 16,
  maxStreamsPerConnection: 64,
});

/**
 * Hard bounds on the fields of every request (wire limits, not tunables: a node and its peers must agree
 * on them). A request beyond one gets INVALID_ARGUMENT naming the field and the bound, before any work.
 */
export const REQUEST_LIMITS = Object.freeze({
  /** Entries per filter list (cidrs, ports, protocols, nodes): any hand-written query fits. */
  filterEntries: 256,
  /**
   * Characters of one CIDR text: 64. The longest valid block ("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128")
   * has 49.
   */
  cidrChars: 64,
  /** Characters of one member name in filters.nodes: 256, above any name the membership accepts. */
  nodeNameChars: 256,
  /** Characters of a merge request's query_id: the coordinator sends 16 hex digits. */
  queryIdChars: 64,
  /** Keys a merge phase-3 request (or phase-1 hint) may name: TPUT's candidates are a few times k <= 1000. */
  mergeKeys: 65_536,
  /** Characters of one merge key: the longest key text (an IPv6 flow) is ~100. */
  mergeKeyChars: 512,
  /** Member networks a merge window carries: each member announces a few. */
  memberNetworks: 4096,
});

/**
 * How much of a bad value an error message quotes: 64 characters, then "…(N bytes)". Error messages travel
 * back as the grpc-message trailer; quoting input unbounded once sent 80 kB back for a 40 kB field, beyond
 * HTTP/2's header list limit (64 KiB in Node), and the client's connection jammed.
 */
export const ERROR_QUOTE_CHARS = 64;
/** Longest error message the service sends (a last bound on the trailer, whatever built the message). */
export const MAX_ERROR_DETAILS_CHARS = 1024;

/** The agent's gRPC port when --grpc gives none: gossip's port plus one. */
export const DEFAULT_GRPC_PORT = 7948;
/** The agent's gRPC listen address when --grpc is not given. */
export const DEFAULT_GRPC_ADDRESS = `0.0.0.0:${DEFAULT_GRPC_PORT}`;
/** Where the CLI asks when --node is not given: this host's agent on the default port. */
export const DEFAULT_QUERY_NODE = `127.0.0.1:${DEFAULT_GRPC_PORT}`;
