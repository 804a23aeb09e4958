/**
 * Text that came from elsewhere (another member's name, addresses, version, capture filter, an error it
 * sent), made safe to write to a terminal. A terminal acts on control characters: ESC starts a sequence
 * that can clear the screen, move the cursor, retitle the window or rewrite earlier lines; CR and BS
 * overwrite what is shown; C1 controls (U+0080..U+009F, e.g. CSI U+009B) do what ESC [ does on many
 * terminals; bidirectional overrides reorder what the reader sees. Each such character is replaced by a
 * visible escape (`\x1b`, `\r`, `\u202e`), so the text shows what was sent and does nothing; a backslash
 * is doubled, so an escape in the output always means a replaced character. Printable text, including
 * non-ASCII letters, is kept as is. JSON output goes through terminalJson instead: the same value, still
 * valid JSON that parses to exactly what was received, with the characters JSON.stringify leaves raw
 * (DEL, C1, separators, bidi controls; it escapes only C0) written as \u escapes.
 */

/** C0 controls, DEL, C1 controls, the line/paragraph separators, and the bidirectional controls
 * (embeddings, overrides, isolates, marks) that can make text read differently from what it is. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\\]/g;

const NAMED: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

function visible(character: string): string {
  const named = NAMED[character];
  if (named !== undefined) return named;
  const code = character.charCodeAt(0);
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `text` with every control character replaced by a visible escape (see above); safe to print. */
export function terminalText(text: string): string {
  return text.replace(UNSAFE, visible);
}

/** The same characters but C0 (JSON.stringify escapes those) and the backslash (JSON's own). */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** JSON.stringify(value), with no character left in it that a terminal acts on (see above). */
export function terminalJson(value: unknown): string {
  return JSON.stringify(value).replace(
    UNSAFE_IN_JSON,
    (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
