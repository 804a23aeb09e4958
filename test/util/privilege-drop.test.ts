import { describe, expect, it } from 'vitest';
import {
  DEFAULT_DROP_GROUP,
  DEFAULT_DROP_USER,
  PrivilegeDropError,
  readProcessCredentials,
  resolveDropTarget,
} from '../../src/util/privilege-drop.js';

function failure(run: () => unknown): PrivilegeDropError {
  try {
    run();
  } catch (error) {
    if (error instanceof PrivilegeDropError) return error;
    throw error;
  }
  throw new Error('expected a PrivilegeDropError');
}

describe('resolveDropTarget', () => {
  it('resolves the documented defaults, nobody/nogroup, to their numbers (through NSS, numbers too)', () => {
    expect(resolveDropTarget(DEFAULT_DROP_USER, DEFAULT_DROP_GROUP)).toEqual({
      user: 'nobody',
      group: 'nogroup',
      uid: 65534,
      gid: 65534,
    });
    expect(resolveDropTarget('65534', '65534')).toMatchObject({ uid: 65534, gid: 65534 });
  });

  it.each([
    ['nosuchuser', 'nogroup', 'UNKNOWN_USER', "--user: no user named 'nosuchuser'"],
    ['nobody', 'nosuchgroup', 'UNKNOWN_GROUP', "--group: no group named 'nosuchgroup'"],
    ['', 'nogroup', 'UNKNOWN_USER', "--user: '' is not a valid user name"],
    ['no body', 'nogroup', 'UNKNOWN_USER', 'is not a valid user name'],
    ['\u001b[2Jx', 'nogroup', 'UNKNOWN_USER', 'is not a valid user name'],
    ['root', 'nogroup', 'DROP_TO_ROOT', 'keeps root'],
    ['nobody', 'root', 'DROP_TO_ROOT', 'keeps root'],
  ])('refuses --user %j --group %j with %s', (user, group, code, text) => {
    const error = failure(() => resolveDropTarget(user, group));
    expect(error.code).toBe(code);
    expect(error.exitCode).toBe(1);
    expect(error.message).toContain(text);
  });

  it('quotes at most a short prefix of an absurd name', () => {
    const error = failure(() => resolveDropTarget('x'.repeat(5000), 'nogroup'));
    expect(error.code).toBe('UNKNOWN_USER');
    expect(error.message.length).toBeLessThan(200);
  });
});

describe('readProcessCredentials', () => {
  it("reads this process's ids and capability sets from /proc/self/status", () => {
    const self = readProcessCredentials();
    expect(self.uids).toHaveLength(4);
    expect(self.uids[1]).toBe(process.geteuid?.());
    expect(self.gids[1]).toBe(process.getegid?.());
    expect(typeof self.capEffective).toBe('bigint');
  });
});
