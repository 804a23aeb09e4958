import { UsageError } from '../util/errors.js';

/**
 * The rule for member names, checked where a name enters: at start (--name, or the host name by
 * default) and in every record received (a record naming a member otherwise is dropped and counted as
 * `invalid-name`, record-admission.ts). Names are printed in tables and event lines and used as node
 * names in answers, so they must be short and printable; the rule is a host name's (HOST_NAME_MAX is
 * 64 on Linux), plus underscore, so every Linux host name passes.
 */
export const MEMBER_NAME_MAX_CHARS = 64;
const MEMBER_NAME_PATTERN = /^[A-Za-z0-9._-]+$/;

/** The rule in one line, for errors and the README. */
export const MEMBER_NAME_RULE = `1 to ${MEMBER_NAME_MAX_CHARS} characters, each a letter A-Z or a-z, a digit, '.', '_' or '-'`;

export function isValidMemberName(name: string): boolean {
  return name.length >= 1 && name.length <= MEMBER_NAME_MAX_CHARS && MEMBER_NAME_PATTERN.test(name);
}

/** Throws a UsageError naming the rule when `name` breaks it. `source` says where the name came from. */
export function checkMemberName(name: string, source: string): void {
  if (isValidMemberName(name)) return;
  const shown = JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}...` : name);
  throw new UsageError(`${source} ${shown} is not a valid member name: ${MEMBER_NAME_RULE}`);
}
