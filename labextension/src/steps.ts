/**
 * One section per server-side step, in order: Python (highlighted, as before), bash commands,
 * text editor operations (str_replace as a diff) and server tools this renderer does not know
 * (their JSON input and result). Text mirrors `ptc_jupyter.formatting` (`step_state`, the diff).
 * Everything from the trace enters the DOM as text.
 */
import { collapsible, el } from './dom';
import { asText, formatInt, formatSeconds } from './format';
import { highlightPython } from './highlight';
import { FAILED_STEP_STATUSES, IStep } from './types';

const C = 'jp-PtcTrace';

function inputStr(step: IStep, key: string): string | null {
  const value = step.input[key];
  return typeof value === 'string' ? value : null;
}

/** The Python code, the bash command, an editor operation's summary, or the JSON input. */
export function stepCode(step: IStep): string {
  if (step.kind === 'python' || step.kind === 'bash') {
    return inputStr(step, step.kind === 'python' ? 'code' : 'command') ?? (step.input.restart ? '(restart)' : '');
  }
  if (step.kind === 'editor') {
    const parts = ['command', 'path'].filter(k => step.input[k] !== undefined && step.input[k] !== null).map(k => asText(step.input[k]));
    if (Array.isArray(step.input.view_range)) {
      parts.push(JSON.stringify(step.input.view_range));
    }
    return parts.join(' ');
  }
  return asText(step.input);
}

/** How the step ended, as `ptc_jupyter.formatting.step_state` says it. */
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
    return typeof shown === 'number' && typeof total === 'number' ? `viewed ${shown} of ${total} lines` : 'viewed';
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
  const nums = ['old_start', 'old_lines', 'new_start', 'new_lines'].map(k => d[k]);
  if (nums.every(n => typeof n === 'number')) {
    out.push(`@@ -${nums[0]},${nums[1]} +${nums[2]},${nums[3]} @@`);
  }
  if (Array.isArray(d.lines) && d.lines.length) {
    return out.concat(d.lines.map(l => asText(l)));
  }
  const oldStr = inputStr(step, 'old_str');
  const newStr = inputStr(step, 'new_str');
  if (oldStr !== null || newStr !== null) {
    out.push(...(oldStr ?? '').split('\n').map(l => `-${l}`), ...(newStr ?? '').split('\n').map(l => `+${l}`));
  }
  return out;
}

export function stepLabel(step: IStep): string {
  return step.kind === 'bash' ? 'Bash' : step.kind === 'editor' ? 'Text editor' : step.name;
}

function fact(parent: HTMLElement, label: string, value: string, failed = false): void {
  const item = parent.appendChild(el('span', `${C}-fact${failed ? ` ${C}-factfailed` : ''}`));
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
    const cls = line.startsWith('@@') ? 'hunk' : line.startsWith('+') ? 'add' : line.startsWith('-') ? 'del' : 'same';
    pre.appendChild(el('span', `${C}-diff-${cls}`, line + '\n'));
  }
  return pre;
}

/** What an editor or unknown step returned. */
function result(box: HTMLElement, step: IStep): void {
  const d = step.detail;
  const kind = step.resultType ?? '';
  if (step.kind === 'editor') {
    if (kind.endsWith('_str_replace_result') || step.input.command === 'str_replace') {
      const lines = editorDiff(step);
      if (lines.length) {
        box.appendChild(diffBlock(lines));
      }
    } else if (kind.endsWith('_view_result') && d) {
      const content = typeof d.content === 'string' ? d.content : '';
      const fileType = typeof d.file_type === 'string' ? d.file_type : 'text';
      box.appendChild(fileType === 'text'
        ? collapsible(content, `${C}-viewtext`, 2000, 20)
        : el('div', `${C}-note`, `(${fileType} content, ${formatInt(content.length)} chars)`));
    } else {
      const text = inputStr(step, 'file_text');
      if (text !== null) {
        box.appendChild(collapsible(text, `${C}-viewtext`, 2000, 20));
      }
    }
    return;
  }
  if (step.kind === 'other' && d) {
    box.appendChild(el('div', `${C}-streamlabel`, 'result'));
    box.appendChild(collapsible(asText('content' in d ? d.content : d, true), `${C}-json`, 2000, 20));
  }
}

/**
 * The section of one step. `title` is e.g. "Script 2 of 3" or "Bash"; `callCount` is set for
 * Python steps (the calls their code made); highlighting promises are pushed onto `done`.
 */
export function stepSection(step: IStep, title: string, callCount: number | null, done: Promise<void>[]): HTMLElement {
  const failed = FAILED_STEP_STATUSES.has(step.status);
  const box = el('section', `${C}-section ${C}-stepsection ${C}-step-${step.kind}${step.kind === 'python' ? ` ${C}-scriptsection` : ''}`);
  box.dataset.status = step.status;
  const heading = box.appendChild(el('h3', `${C}-heading`, title));
  if (step.kind === 'editor' && typeof step.input.command === 'string') {
    heading.appendChild(el('span', `${C}-editorcommand`, ` · ${step.input.command}`));
  }
  const meta = box.appendChild(el('div', `${C}-facts`));
  if (callCount !== null) {
    fact(meta, 'calls', formatInt(callCount));
  }
  if (step.kind === 'editor' && typeof step.input.path === 'string') {
    fact(meta, 'path', step.input.path);
  }
  if (step.returnCode !== null && step.timeoutS === null) {
    fact(meta, 'exit code', String(step.returnCode), step.returnCode !== 0);
  } else if (step.returnCode === null) {
    fact(meta, step.errorCode !== null ? 'error' : 'result', stepState(step), failed);
  }
  if (step.timeoutS !== null) {
    fact(meta, 'stopped', stepState(step), true);
  }
  if (step.durationS !== null) {
    fact(meta, 'took', formatSeconds(step.durationS));
  }
  fact(meta, 'id', step.id);
  if (step.kind === 'python') {
    const code = stepCode(step);
    const pre = box.appendChild(el('pre', `${C}-script`));
    const target = pre.appendChild(el('code', `${C}-code language-python`, code));
    done.push(highlightPython(code, target));
  } else if (step.kind === 'bash') {
    box.appendChild(el('pre', `${C}-command`, `$ ${stepCode(step)}`));
  } else if (step.kind === 'other') {
    box.appendChild(el('div', `${C}-streamlabel`, 'input'));
    box.appendChild(collapsible(asText(step.input, true), `${C}-json`, 2000, 20));
  }
  if (step.encrypted) {
    box.appendChild(el('div', `${C}-note`, 'stdout: (encrypted) — the code used web search.'));
  }
  stream(box, 'stdout', step.stdout);
  stream(box, 'stderr', step.stderr);
  result(box, step);
  if (step.fileIds.length) {
    box.appendChild(el('div', `${C}-stepfiles`, `files: ${step.fileIds.join(', ')}`));
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
