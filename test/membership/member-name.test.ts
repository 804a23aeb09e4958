import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import {
  checkMemberName,
  isValidMemberName,
  MEMBER_NAME_MAX_CHARS,
  MEMBER_NAME_RULE,
} from '../../src/membership/member-name.js';
import { UsageError } from '../../src/util/errors.js';

describe('member names', () => {
  it.each([
    'web1',
    'node-2.example.com',
    'ip-10-0-0-1.eu-west-1.compute.internal',
    'build_box',
    'A',
    'x'.repeat(MEMBER_NAME_MAX_CHARS),
  ])('%s is valid', (name) => {
    expect(isValidMemberName(name)).toBe(true);
  });

  it('this machine’s host name is valid (the default --name)', () => {
    expect(isValidMemberName(hostname())).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['65 characters', 'x'.repeat(MEMBER_NAME_MAX_CHARS + 1)],
    ['5,000 characters', 'x'.repeat(5000)],
    ['a terminal escape', 'a\u001b[2Jb'],
    ['a space', 'my host'],
    ['a newline', 'a\nb'],
    ['a colon', 'a:b'],
    ['non-ASCII', 'zürich'],
    ['a right-to-left override', 'a\u202eb'],
  ])('%s is refused', (_, name) => {
    expect(isValidMemberName(name)).toBe(false);
  });

  it('checkMemberName throws a UsageError (exit 2) with the rule in one line, the name quoted and cut', () => {
    let caught: unknown;
    try {
      checkMemberName(`\u001b[2J${'y'.repeat(100)}`, '--name');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UsageError);
    const message = (caught as UsageError).message;
    expect(message).toContain(MEMBER_NAME_RULE);
    expect(message).toContain('\\u001b[2J');
    expect(message).not.toContain('\u001b');
    expect(message.split('\n')).toHaveLength(1);
    expect(message.length).toBeLessThan(200);
    expect((caught as UsageError).exitCode).toBe(2);
  });
});
