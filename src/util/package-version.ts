import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * sniffmesh's version, read once from its package.json: the one place it is written. Found by walking up
 * from this file, so it works from src/ (tests run the TypeScript), from dist/ (the build) and from an
 * installed package alike.
 */
function readVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (manifest.name === 'sniffmesh' && typeof manifest.version === 'string') return manifest.version;
    } catch {
      // No package.json here (or not ours): keep walking up.
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('sniffmesh: package.json not found above the installed code');
    dir = parent;
  }
}

export const SNIFFMESH_VERSION: string = readVersion();
