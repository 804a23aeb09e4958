import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is test/helpers/repo-paths.ts). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** ../shared beside the checkout: the pcap corpus and research notes (CI provides it). */
export const SHARED_DIR = path.resolve(REPO_ROOT, '..', 'shared');
export const TCPDUMP_CORPUS_DIR = path.join(SHARED_DIR, 'pcaps', 'tcpdump-tests');
/** The built CLI; tests that run it need `npm run build` first (npm test does that). */
export const CLI_PATH = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

export function requireBuiltCli(): string {
  if (!existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} is missing: run 'npm run build' first`);
  return CLI_PATH;
}
