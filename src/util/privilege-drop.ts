/**
 * Dropping root: who a process started as root becomes once its privileged work (binding sockets,
 * opening the capture) is done, and reading back what the kernel says it now is.
 *
 * The order is the one every careful daemon uses (Arkime's dropUser/dropGroup, ntopng --user,
 * OpenSSH's privsep): supplementary groups first (setgroups needs CAP_SETGID), then the group
 * (setgid needs it too), then the user (setuid gives up every capability: a process whose real,
 * effective and saved uids all leave 0 loses its permitted and effective capability sets, see
 * capabilities(7) "Effect of user ID changes on capabilities"). glibc applies each call to every thread
 * of the process (libuv's pool included). Afterwards /proc/self/status is read back and must show the
 * target ids, no groups and no capabilities; anything else is an error, never a warning.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { SniffmeshError } from './errors.js';

/**
 * Who an agent started as root becomes (--user / --group). nobody/nogroup exist on every Debian and
 * Ubuntu host and own nothing; a dedicated account (e.g. `useradd -r sniffmesh`) is better where
 * files the agent reads later (none today) must not be readable by other nobody daemons.
 */
export const DEFAULT_DROP_USER = 'nobody';
export const DEFAULT_DROP_GROUP = 'nogroup';

/** How long an NSS lookup (getent: files, LDAP, sssd) may take before the agent gives up, ms. */
const ACCOUNT_LOOKUP_TIMEOUT_MS = 5000;
/** Names and numbers longer than this are refused before any lookup (useradd allows 32 bytes). */
const MAX_ACCOUNT_NAME_LENGTH = 64;
const ACCOUNT_NAME_PATTERN = /^[A-Za-z0-9._][A-Za-z0-9._-]*\$?$/;

/** The numeric account a process drops to, with the names it was given as. */
export interface DropTarget {
  user: string;
  group: string;
  uid: number;
  gid: number;
}

/** A privilege drop that cannot be done or did not take effect: exit code 1, one line. */
export class PrivilegeDropError extends SniffmeshError {
  override name = 'PrivilegeDropError';
}

function lookUp(database: 'passwd' | 'group', name: string, flag: string): number {
  if (name.length === 0 || name.length > MAX_ACCOUNT_NAME_LENGTH || !ACCOUNT_NAME_PATTERN.test(name)) {
    throw new PrivilegeDropError(
      database === 'passwd' ? 'UNKNOWN_USER' : 'UNKNOWN_GROUP',
      `${flag}: '${name.slice(0, MAX_ACCOUNT_NAME_LENGTH)}' is not a valid ${database === 'passwd' ? 'user' : 'group'} name`,
    );
  }
  let line: string;
  try {
    // getent asks NSS (files, LDAP, sssd) as the C library would; numeric ids are looked up too.
    line = execFileSync('getent', [database, name], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: ACCOUNT_LOOKUP_TIMEOUT_MS,
    });
  } catch {
    line = '';
  }
  const id = Number(line.split('\n')[0]?.split(':')[2] ?? '');
  if (line === '' || !Number.isSafeInteger(id) || id < 0) {
    throw new PrivilegeDropError(
      database === 'passwd' ? 'UNKNOWN_USER' : 'UNKNOWN_GROUP',
      `${flag}: no ${database === 'passwd' ? 'user' : 'group'} named '${name}' on this host ` +
        `(create one, e.g. useradd --system sniffmesh, or name an existing one)`,
    );
  }
  return id;
}

/** Resolves --user/--group to numbers (before anything is bound or joined: a typo fails at once). */
export function resolveDropTarget(user: string, group: string): DropTarget {
  const uid = lookUp('passwd', user, '--user');
  const gid = lookUp('group', group, '--group');
  if (uid === 0 || gid === 0) {
    throw new PrivilegeDropError(
      'DROP_TO_ROOT',
      `--user ${user} / --group ${group}: dropping privileges to uid or gid 0 keeps root; name an unprivileged account`,
    );
  }
  return { user, group, uid, gid };
}

/** True when this process runs as root (effective uid 0), i.e. when there is something to drop. */
export function runningAsRoot(): boolean {
  return typeof process.geteuid === 'function' && process.geteuid() === 0;
}

/** What /proc/PID/status says about a process's identity and capabilities. */
export interface ProcessCredentials {
  /** Real, effective, saved and filesystem uid. */
  uids: number[];
  gids: number[];
  groups: number[];
  capInheritable: bigint;
  capPermitted: bigint;
  capEffective: bigint;
  capBounding: bigint;
  capAmbient: bigint;
}

/** Reads /proc/PID/status (default: this process). */
export function readProcessCredentials(pid: number | 'self' = 'self'): ProcessCredentials {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): string => {
    const match = new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(status);
    if (match === null) throw new Error(`/proc/${pid}/status has no ${name} line`);
    return (match[1] as string).trim();
  };
  const numbers = (name: string): number[] =>
    field(name)
      .split(/\s+/)
      .filter((text) => text !== '')
      .map(Number);
  const capability = (name: string): bigint => BigInt(`0x${field(name)}`);
  return {
    uids: numbers('Uid'),
    gids: numbers('Gid'),
    groups: numbers('Groups'),
    capInheritable: capability('CapInh'),
    capPermitted: capability('CapPrm'),
    capEffective: capability('CapEff'),
    capBounding: capability('CapBnd'),
    capAmbient: capability('CapAmb'),
  };
}

/**
 * Becomes `target` for good: setgroups([]), setgid, setuid, in that order, then checks /proc/self/status
 * (every uid and gid is the target's, no supplementary groups, no capability left in any set a process
 * can use). Throws PrivilegeDropError when a step fails or the result is not that.
 */
export function dropPrivileges(target: DropTarget): void {
  try {
    process.setgroups?.([]);
    process.setgid?.(target.gid);
    process.setuid?.(target.uid);
  } catch (error) {
    throw new PrivilegeDropError(
      'PRIVILEGE_DROP_FAILED',
      `could not drop to user ${target.user} (${target.uid}) / group ${target.group} (${target.gid}): ${(error as Error).message}`,
      { cause: error },
    );
  }
  const now = readProcessCredentials();
  const problems: string[] = [];
  if (!now.uids.every((uid) => uid === target.uid)) problems.push(`uids ${now.uids.join(',')}`);
  if (!now.gids.every((gid) => gid === target.gid)) problems.push(`gids ${now.gids.join(',')}`);
  if (now.groups.length > 0) problems.push(`groups ${now.groups.join(',')}`);
  if (now.capPermitted !== 0n || now.capEffective !== 0n || now.capAmbient !== 0n) {
    problems.push(`capabilities left (CapPrm ${now.capPermitted.toString(16)})`);
  }
  if (problems.length > 0) {
    throw new PrivilegeDropError(
      'PRIVILEGE_DROP_INCOMPLETE',
      `dropping to user ${target.user} / group ${target.group} left ${problems.join('; ')}`,
    );
  }
}
