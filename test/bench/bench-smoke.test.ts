/**
 * Every benchmark still runs and still judges: each one, built into dist/bench/ (npm test builds first),
 * runs in its quickest mode (--quick) and must exit 0 with its figures table and at least one judged
 * target, none failed and none unjudged; `--help` exits 0 and an unknown flag exits 2. Two broken runs
 * (members that cannot start, a sniffmesh that fails) must end in exit 3 with "could not judge", so a
 * benchmark that measures nothing can never pass. The live, membership and query benchmarks create
 * network namespaces (root; CI is root) and must leave none behind. Quick runs judge that the
 * benchmarks measure, not the figures: on a busy machine they stay well inside their targets.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/netns.js';
import { REPO_ROOT } from '../helpers/repo-paths.js';

const BENCH_TIMEOUT_MS = 240_000;
const HELP_TIMEOUT_MS = 20_000;

interface BenchSpec {
  name: string;
  script: string;
  /** Needs root (network namespaces). */
  root: boolean;
  /** A header of the figures table the report must print. */
  table: RegExp;
}

const BENCHES: BenchSpec[] = [
  {
    name: 'bench:capture',
    script: 'dist/bench/capture/run.js',
    root: false,
    table: /^tool\s+packets\/s median \(range\)\s+wall s median/m,
  },
  {
    name: 'bench:capture:live',
    script: 'dist/bench/capture/live.js',
    root: true,
    table: /^sender\s+requested\/s\s+achieved\/s\s+receiver\s+sent\s+captured\s+loss/m,
  },
  {
    name: 'bench:membership',
    script: 'dist/bench/membership/run.js',
    root: true,
    table: /^N\s+metric\s+sniffmesh\s+serf\s+ratio\s+target/m,
  },
  {
    name: 'bench:query',
    script: 'dist/bench/query/run.js',
    root: true,
    table: /^nodes \| repeated question p50 \/ p99 \/ max ms/m,
  },
];

const TARGETS_LINE = /^Targets: (\d+) pass, (\d+) fail, (\d+) could not judge.* \(exit (\d+)\)$/m;

interface BenchRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  pid: number;
}

function runBench(script: string, args: string[]): Promise<BenchRun> {
  const file = path.join(REPO_ROOT, script);
  if (!existsSync(file)) throw new Error(`${file} is missing: run 'npm run build' first`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file, ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    // SIGTERM lets the benchmark remove its namespaces and members before the test gives up.
    const timer = setTimeout(() => child.kill('SIGTERM'), BENCH_TIMEOUT_MS - 10_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, pid: child.pid ?? -1 });
    });
  });
}

/** Namespaces a benchmark of this pid created (smmember-PID, smlive-a-PID, smlive-b-PID). */
function namespacesOf(pid: number): string[] {
  const listing = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return listing
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name.endsWith(`-${pid}`) && name.startsWith('sm'));
}

function targetCounts(run: BenchRun): { pass: number; fail: number; unjudged: number; exit: number } {
  const match = TARGETS_LINE.exec(run.stdout);
  expect(match, `no targets summary line in the report:\n${run.stdout}\n${run.stderr}`).not.toBeNull();
  const [pass, fail, unjudged, exit] = match!.slice(1).map(Number);
  return { pass, fail, unjudged, exit };
}

const root = isRoot();
if (!root)
  console.warn('skipping the root benchmarks (live, membership, query): they need root (CI is root)');

describe('every benchmark answers --help and rejects unknown flags', () => {
  for (const bench of BENCHES) {
    it(`${bench.name} --help lists its flags, targets and exit codes (exit 0)`, {
      timeout: HELP_TIMEOUT_MS,
    }, async () => {
      const run = await runBench(bench.script, ['--help']);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`^Usage: ${bench.name} \\[options\\]`, 'm'));
      expect(run.stdout).toContain('--quick');
      expect(run.stdout).toContain('(default: ');
      expect(run.stdout).toContain('Exit codes:');
    });

    it(`${bench.name} with an unknown flag is a usage error (exit 2, one line)`, {
      timeout: HELP_TIMEOUT_MS,
    }, async () => {
      const run = await runBench(bench.script, ['--no-such-flag']);
      expect(run.code).toBe(2);
      expect(run.stderr.trim()).toBe(`${bench.name}: unknown option '--no-such-flag'`);
      expect(run.stdout).toBe('');
    });
  }

  it('a bad value is a usage error too (exit 2)', { timeout: HELP_TIMEOUT_MS }, async () => {
    const run = await runBench('dist/bench/membership/run.js', ['--sizes', '2']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^bench:membership: option '--sizes <list>' argument '2' is invalid/);
  });
});

describe('every benchmark runs in its quick mode and judges real targets', () => {
  for (const bench of BENCHES) {
    it.skipIf(bench.root && !root)(
      `${bench.name} --quick exits 0 with its figures and judged, passing targets`,
      { timeout: BENCH_TIMEOUT_MS },
      async () => {
        const run = await runBench(bench.script, ['--quick']);
        const context = `exit ${run.code ?? run.signal}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr.slice(-4000)}`;
        expect(run.code, context).toBe(0);
        expect(run.stdout, context).toMatch(bench.table);
        const counts = targetCounts(run);
        expect(counts.pass, context).toBeGreaterThan(0);
        expect(counts.fail, context).toBe(0);
        expect(counts.unjudged, context).toBe(0);
        expect(counts.exit).toBe(0);
        if (root) expect(namespacesOf(run.pid)).toEqual([]);
      },
    );
  }
});

describe('a benchmark that cannot judge fails loudly', () => {
  it.skipIf(!root)(
    'bench:membership whose members never start: could not judge, exit 3, namespace removed',
    { timeout: BENCH_TIMEOUT_MS },
    async () => {
      const run = await runBench('dist/bench/membership/run.js', [
        '--quick',
        '--impls',
        'sniffmesh',
        '--sniffmesh-args',
        '--no-such-agent-flag',
      ]);
      expect(run.code, run.stderr).toBe(3);
      expect(run.stdout).toMatch(/could not judge: N=5 graceful leave: .*seed n0 exited before it came up/);
      expect(run.stdout).toContain("unknown option '--no-such-agent-flag'");
      expect(targetCounts(run)).toMatchObject({ pass: 0, fail: 0, exit: 3 });
      expect(namespacesOf(run.pid)).toEqual([]);
    },
  );

  it('bench:capture whose sniffmesh fails: could not judge, exit 3', {
    timeout: BENCH_TIMEOUT_MS,
  }, async () => {
    const run = await runBench('dist/bench/capture/run.js', ['--quick', '--sniffmesh-cmd', 'false']);
    expect(run.code, run.stderr).toBe(3);
    expect(run.stdout).toMatch(/could not judge: sniffmesh peak RSS <= 250 MB .*: exit status 1/);
    expect(targetCounts(run)).toMatchObject({ pass: 0, fail: 0, exit: 3 });
  });
});
