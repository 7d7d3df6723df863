/**
 * Claude's script as a kernel cell, character for character what
 * `ptc_jupyter.notebook.script_cell.cell_source(run, n)` makes of the same saved trace: a header naming
 * the run by its prompt, the clipped-script note when the saved code ends in the clip marker,
 * the line that binds the tools, then the code unchanged. No imports: a test runs it in node and
 * compares it with Python's.
 */

/** `script_cell.BIND_LINE`, `BIND_COMMENT`, `CLIPPED_NOTE` and `LABEL_CHARS` (a test compares them). */
export const BIND_LINE =
  'from ptc_jupyter.script_cell import bind_tools; bind_tools(globals())';
export const BIND_COMMENT =
  '  # the tool names call the tools until this cell ends';
export const CLIPPED_NOTE =
  '# note: the saved trace clipped this script; its end is missing';
/** `script_cell.INPUT_DIR_NOTE`: a script reading the container's input files, which the kernel lacks. */
export const INPUT_DIR_NOTE =
  "# note: this script reads $INPUT_DIR, the container's input files; here, first set os.environ['INPUT_DIR'] to a folder holding them";
export const LABEL_CHARS = 60;
/** The clip marker at the very end (Python's `$` also matches before one final newline). */
const CLIPPED = /… \[\+[\d,]+ chars\]\n?$/;
/** Python's `str.splitlines` boundaries and `str.strip` whitespace, so labels agree exactly. */
// eslint-disable-next-line no-control-regex -- Python's line boundaries include these controls
const LINE_BREAK = /\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]/;
const SPACE =
  '[\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const STRIP = new RegExp(`^${SPACE}+|${SPACE}+$`, 'g');

/** How a header names a run: its prompt's first non-blank line, cut to LABEL_CHARS, quoted (`run_label`). */
export function runLabel(prompt: string): string {
  const line =
    prompt
      .split(LINE_BREAK)
      .map(l => l.replace(STRIP, ''))
      .find(l => l !== '') ?? '';
  const chars = Array.from(line); // code points, as Python counts
  const cut =
    chars.length > LABEL_CHARS
      ? chars.slice(0, LABEL_CHARS - 1).join('') + '…'
      : line;
  return JSON.stringify(cut);
}

/** Script `n` (1-based) of the run's Python scripts `codes`, as a cell. */
export function cellSource(prompt: string, codes: string[], n: number): string {
  const code = codes[n - 1];
  const of = codes.length > 1 ? ` (of ${codes.length})` : '';
  const lines = [
    `# Claude's script ${n}${of} of run ${runLabel(prompt)}; tools run in this kernel`
  ];
  if (CLIPPED.test(code)) {
    lines.push(CLIPPED_NOTE);
  }
  if (code.includes('INPUT_DIR')) {
    lines.push(INPUT_DIR_NOTE);
  }
  lines.push(BIND_LINE + BIND_COMMENT, code);
  return lines.join('\n');
}
