import { describe, expect, it } from 'vitest';
import { terminalJson, terminalText } from '../../src/util/terminal-text.js';

describe('terminalText', () => {
  it.each([
    ['a plain host name', 'web-1.example', 'web-1.example'],
    ['non-ASCII letters', 'zürich-ä', 'zürich-ä'],
    ['a clear-screen sequence', '\u001b[2J\u001b[H', '\\x1b[2J\\x1b[H'],
    ['a window-title sequence (OSC ... BEL)', '\u001b]0;owned\u0007', '\\x1b]0;owned\\x07'],
    ['a carriage return that would overwrite the line', 'ok\rFAILED', 'ok\\rFAILED'],
    ['a newline that would forge a second line', 'a\nb', 'a\\nb'],
    ['a tab', 'a\tb', 'a\\tb'],
    ['NUL and backspace', 'a\u0000\u0008', 'a\\x00\\x08'],
    ['DEL', 'a\u007f', 'a\\x7f'],
    ['a C1 CSI (U+009B)', '\u009b2J', '\\x9b2J'],
    ['a right-to-left override', 'abc\u202edef', 'abc\\u202edef'],
    ['a line separator', 'a\u2028b', 'a\\u2028b'],
    ['a backslash (doubled, so every escape shown means a replaced character)', 'a\\x1b', 'a\\\\x1b'],
    ['the empty string', '', ''],
  ])('%s', (_, input, expected) => {
    expect(terminalText(input)).toBe(expected);
  });

  it('leaves no character below U+0020, DEL or C1 in the output of any input (all 64 Ki code units)', () => {
    let all = '';
    for (let code = 0; code < 0x10000; code++)
      if (code < 0xd800 || code > 0xdfff) all += String.fromCharCode(code);
    const out = terminalText(all);
    expect(out).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    // Printable characters survive unchanged and in order.
    expect(out.includes('ABCDEFGHIJKLMNOPQRSTUVWXYZ')).toBe(true);
  });
});

describe('terminalJson', () => {
  it('is JSON that parses back to the same value, with DEL, C1 and bidi controls as \\u escapes', () => {
    const value = {
      name: 'a\u001b[2J',
      filter: 'x\u009b2J\u007f',
      note: 'r\u202el',
      list: ['\u2028', 'ok', 'zürich'],
    };
    const json = terminalJson(value);
    expect(json).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/);
    expect(JSON.parse(json)).toEqual(value);
    expect(json).toContain('x\\u009b2J\\u007f');
    expect(json).toContain('zürich');
  });

  it('is exactly JSON.stringify for text without such characters', () => {
    const value = { a: 1, b: 'plain "quoted" \\ text', c: [true, null] };
    expect(terminalJson(value)).toBe(JSON.stringify(value));
  });
});
