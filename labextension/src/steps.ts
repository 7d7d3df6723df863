/**
 * One section per server-side step, in order: Python (highlighted, as before), bash commands,
 * text editor operations (str_replace as a diff) and server tools this renderer does not know
 * (their JSON input and result). Text mirrors `ptc_jupyter.display.formatting` (`step_state`, the diff).
 * Everything from the trace enters the DOM as text. What differs by kind is in one table,
 * `STEP_VIEWS`, keyed by the kinds of `types.STEP_KIND_TABLE`.
 */
import { collapsible, el } from './dom';
import { asText, formatInt, formatSeconds } from './format';
import { FAILED_STEP_STATUSES, IStep, StepKind } from './types';

const C = 'jp-PtcTrace';

function inputStr(step: IStep, key: string): string | null {
  const value = step.input[key];
  return typeof value === 'string' ? value : null;
}

/** The Python code or the bash command (`restart` when the step only restarted the session). */
function commandText(step: IStep, key: string): string {
  return inputStr(step, key) ?? (step.input.restart ? '(restart)' : '');
}

/** An editor operation in one line: its command, path and view range. */
function editorOperation(step: IStep): string {
  const parts = ['command', 'path']
    .filter(k => step.input[k] !== undefined && step.input[k] !== null)
    .map(k => asText(step.input[k]));
  if (Array.isArray(step.input.view_range)) {
    parts.push(JSON.stringify(step.input.view_range));
  }
  return parts.join(' ');
}

/** The Python code, the bash command, an editor operation's summary, or the JSON input. */
export function stepCode(step: IStep): string {
  return STEP_VIEWS[step.kind].code(step);
}

/** How the step ended, as `ptc_jupyter.display.formatting.step_state` says it. */
export function stepState(step: IStep): string {
  if (step.errorCode !== null) {
    return step.errorCode + (step.errorMessage ? `: ${step.errorMessage}` : '');
  }
  if (step.timeoutS !== null) {
    return `cell time limit (${step.timeoutS} s) reached`;
  }
  if (step.returnCode !== null) {
    return `exit ${step.returnCode}`;
  }
  const kind = step.resultType;
  if (kind === null) {
    return 'unfinished';
  }
  const detail = step.detail ?? {};
  if (kind.endsWith('_create_result')) {
    return detail.is_file_update ? 'file updated' : 'file created';
  }
  if (kind.endsWith('_view_result')) {
    const shown = detail.num_lines;
    const total = detail.total_lines;
    return typeof shown === 'number' && typeof total === 'number'
      ? `viewed ${shown} of ${total} lines`
      : 'viewed';
  }
  if (kind.endsWith('_str_replace_result')) {
    return 'replaced';
  }
  return `result ${kind}`;
}

/** The lines a str_replace changed: the result's own diff lines, else - old_str / + new_str. */
export function editorDiff(step: IStep): string[] {
  const d = step.detail ?? {};
  const out: string[] = [];
  const nums = ['old_start', 'old_lines', 'new_start', 'new_lines'].map(
    k => d[k]
  );
  if (nums.every(n => typeof n === 'number')) {
    out.push(`@@ -${nums[0]},${nums[1]} +${nums[2]},${nums[3]} @@`);
  }
  if (Array.isArray(d.lines) && d.lines.length) {
    return out.concat(d.lines.map(l => asText(l)));
  }
  const oldStr = inputStr(step, 'old_str');
  const newStr = inputStr(step, 'new_str');
  if (oldStr !== null || newStr !== null) {
    out.push(
      ...(oldStr ?? '').split('\n').map(l => `-${l}`),
      ...(newStr ?? '').split('\n').map(l => `+${l}`)
    );
  }
  return out;
}

/** The heading of a step that is not a numbered Python script. */
export function stepLabel(step: IStep): string {
  return STEP_VIEWS[step.kind].label(step);
}

function fact(
  parent: HTMLElement,
  label: string,
  value: string,
  failed = false
): void {
  const item = parent.appendChild(
    el('span', `${C}-fact${failed ? ` ${C}-factfailed` : ''}`)
  );
  item.appendChild(el('span', `${C}-factlabel`, label));
  item.appendChild(el('span', `${C}-factvalue`, value));
}

function stream(parent: HTMLElement, name: string, text: string | null): void {
  if (text) {
    const box = parent.appendChild(el('div', `${C}-stream ${C}-${name}`));
    box.appendChild(el('div', `${C}-streamlabel`, name));
    box.appendChild(collapsible(text, `${C}-streamtext`, 2000, 20));
  }
}

function diffBlock(lines: string[]): HTMLElement {
  const pre = el('pre', `${C}-diff`);
  for (const line of lines) {
    const cls = line.startsWith('@@')
      ? 'hunk'
      : line.startsWith('+')
        ? 'add'
        : line.startsWith('-')
          ? 'del'
          : 'same';
    pre.appendChild(el('span', `${C}-diff-${cls}`, line + '\n'));
  }
  return pre;
}

/** What an editor step returned: a str_replace's diff, the viewed text, or a created file's text. */
function editorResult(box: HTMLElement, step: IStep): void {
  const d = step.detail;
  const kind = step.resultType ?? '';
  if (
    kind.endsWith('_str_replace_result') ||
    step.input.command === 'str_replace'
  ) {
    const lines = editorDiff(step);
    if (lines.length) {
      box.appendChild(diffBlock(lines));
    }
  } else if (kind.endsWith('_view_result') && d) {
    const content = typeof d.content === 'string' ? d.content : '';
    const fileType = typeof d.file_type === 'string' ? d.file_type : 'text';
    box.appendChild(
      fileType === 'text'
        ? collapsible(content, `${C}-viewtext`, 2000, 20)
        : el(
            'div',
            `${C}-note`,
            `(${fileType} content, ${formatInt(content.length)} chars)`
          )
    );
  } else {
    const text = inputStr(step, 'file_text');
    if (text !== null) {
      box.appendChild(collapsible(text, `${C}-viewtext`, 2000, 20));
    }
  }
}

/** Fills `target` with highlighted `code` (`highlight.highlightPython` in JupyterLab). */
export type Highlighter = (code: string, target: HTMLElement) => Promise<void>;

/** How a step of one kind shows: the parts of its section that differ by kind. */
export interface IStepView {
  /** what the step ran, as text: the code, the command, the operation, or the JSON input */
  code: (step: IStep) => string;
  /** its heading when it is not a Python script (`stepTitles` numbers those) */
  label: (step: IStep) => string;
  /** more heading text and facts (after the call count) */
  annotate?: (heading: HTMLElement, facts: HTMLElement, step: IStep) => void;
  /** what it ran, above its streams; highlighting promises go onto `done` */
  input?: (
    box: HTMLElement,
    step: IStep,
    highlight: Highlighter,
    done: Promise<void>[]
  ) => void;
  /** what it returned, below its streams */
  result?: (box: HTMLElement, step: IStep) => void;
}

/** One view per step kind; the type makes a kind added to `STEP_KIND_TABLE` without one an error. */
export const STEP_VIEWS: { readonly [K in StepKind]: IStepView } = {
  python: {
    code: step => commandText(step, 'code'),
    label: step => step.name,
    input: (box, step, highlight, done) => {
      const code = stepCode(step);
      const pre = box.appendChild(el('pre', `${C}-script`));
      const target = pre.appendChild(
        el('code', `${C}-code language-python`, code)
      );
      done.push(highlight(code, target));
    }
  },
  bash: {
    code: step => commandText(step, 'command'),
    label: () => 'Bash',
    input: (box, step) => {
      box.appendChild(el('pre', `${C}-command`, `$ ${stepCode(step)}`));
    }
  },
  editor: {
    code: editorOperation,
    label: () => 'Text editor',
    annotate: (heading, facts, step) => {
      if (typeof step.input.command === 'string') {
        heading.appendChild(
          el('span', `${C}-editorcommand`, ` · ${step.input.command}`)
        );
      }
      if (typeof step.input.path === 'string') {
        fact(facts, 'path', step.input.path);
      }
    },
    result: editorResult
  },
  other: {
    code: step => asText(step.input),
    label: step => step.name,
    input: (box, step) => {
      box.appendChild(el('div', `${C}-streamlabel`, 'input'));
      box.appendChild(
        collapsible(asText(step.input, true), `${C}-json`, 2000, 20)
      );
    },
    result: (box, step) => {
      const d = step.detail;
      if (d) {
        box.appendChild(el('div', `${C}-streamlabel`, 'result'));
        box.appendChild(
          collapsible(
            asText('content' in d ? d.content : d, true),
            `${C}-json`,
            2000,
            20
          )
        );
      }
    }
  }
};

/**
 * The section of one step. `title` is e.g. "Script 2 of 3" or "Bash"; `callCount` is set for
 * Python steps (the calls their code made); `highlight` colours Python code and its promises
 * are pushed onto `done`.
 */
export function stepSection(
  step: IStep,
  title: string,
  callCount: number | null,
  highlight: Highlighter,
  done: Promise<void>[]
): HTMLElement {
  const view = STEP_VIEWS[step.kind];
  const failed = FAILED_STEP_STATUSES.has(step.status);
  const box = el(
    'section',
    `${C}-section ${C}-stepsection ${C}-step-${step.kind}${step.kind === 'python' ? ` ${C}-scriptsection` : ''}`
  );
  box.dataset.status = step.status;
  const heading = box.appendChild(el('h3', `${C}-heading`, title));
  const meta = box.appendChild(el('div', `${C}-facts`));
  if (callCount !== null) {
    fact(meta, 'calls', formatInt(callCount));
  }
  view.annotate?.(heading, meta, step);
  if (step.returnCode !== null && step.timeoutS === null) {
    fact(meta, 'exit code', String(step.returnCode), step.returnCode !== 0);
  } else if (step.returnCode === null) {
    fact(
      meta,
      step.errorCode !== null ? 'error' : 'result',
      stepState(step),
      failed
    );
  }
  if (step.timeoutS !== null) {
    fact(meta, 'stopped', stepState(step), true);
  }
  if (step.durationS !== null) {
    fact(meta, 'took', formatSeconds(step.durationS));
  }
  fact(meta, 'id', step.id);
  view.input?.(box, step, highlight, done);
  if (step.encrypted) {
    box.appendChild(
      el('div', `${C}-note`, 'stdout: (encrypted) — the code used web search.')
    );
  }
  stream(box, 'stdout', step.stdout);
  stream(box, 'stderr', step.stderr);
  view.result?.(box, step);
  if (step.fileIds.length) {
    box.appendChild(
      el('div', `${C}-stepfiles`, `files: ${step.fileIds.join(', ')}`)
    );
  }
  return box;
}

/** Every step's title: "Script k of n" (or "Script") for Python, else what the step is. */
export function stepTitles(steps: IStep[]): string[] {
  const count = steps.filter(s => s.kind === 'python').length;
  let k = 0;
  return steps.map(s => {
    if (s.kind !== 'python') {
      return stepLabel(s);
    }
    k += 1;
    const title = count > 1 ? `Script ${k} of ${count}` : 'Script';
    return s.name === 'run_python' ? `${title} (local)` : title;
  });
}
