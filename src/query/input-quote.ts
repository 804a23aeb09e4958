import { ERROR_QUOTE_CHARS } from './query-config.js';

/**
 * A value from a request as an error message quotes it: in single quotes, at most ERROR_QUOTE_CHARS
 * characters, and when longer the first ones followed by "…(N bytes)" (N = its UTF-8 length). Control
 * characters are shown escaped (\x1b), so a message printed on a terminal cannot drive it.
 */
export function quoteInput(value: string, maxChars: number = ERROR_QUOTE_CHARS): string {
  const shown = value.length > maxChars ? value.slice(0, maxChars) : value;
  const escaped = shown.replace(
    /[\u0000-\u001f\u007f-\u009f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
  return value.length > maxChars
    ? `'${escaped}'…(${Buffer.byteLength(value, 'utf8')} bytes)`
    : `'${escaped}'`;
}

/** Text cut to `maxChars` characters, saying how long it was: the last bound on any message sent back. */
export function boundText(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  return `${text.slice(0, maxChars)}…(${Buffer.byteLength(text, 'utf8')} bytes)`;
}
