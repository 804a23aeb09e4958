import type { Command } from 'commander';
import {
  type DropTarget,
  PrivilegeDropError,
  resolveDropTarget,
  runningAsRoot,
} from '../util/privilege-drop.js';

/**
 * The account an agent drops to, from --user/--group: started as root it always drops (to
 * nobody/nogroup unless told otherwise); started as anyone else there is nothing to drop, and an explicit
 * --user or --group that is not that account is an error rather than silently ignored.
 */
export function privilegeDropFor(
  command: Command,
  values: { user?: string; group?: string },
): DropTarget | undefined {
  const user = values.user ?? '';
  const group = values.group ?? '';
  if (runningAsRoot()) return resolveDropTarget(user, group);
  const uid = process.geteuid?.() ?? -1;
  const gid = process.getegid?.() ?? -1;
  const explicit = (name: string) => command.getOptionValueSource(name) === 'cli';
  if (explicit('user') || explicit('group')) {
    const wanted = resolveDropTarget(user, group);
    if (explicit('user') && wanted.uid !== uid) {
      throw new PrivilegeDropError(
        'NOT_ROOT',
        `--user ${user}: only an agent started as root changes user (this one runs as uid ${uid})`,
      );
    }
    if (explicit('group') && wanted.gid !== gid) {
      throw new PrivilegeDropError(
        'NOT_ROOT',
        `--group ${group}: only an agent started as root changes group (this one runs as gid ${gid})`,
      );
    }
  }
  return undefined;
}
