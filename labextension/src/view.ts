/**
 * A saved `%%ptc` trace as static DOM (`renderer.TraceRenderer` puts it in JupyterLab).
 *
 * Sections: header (status, model, round trips, calls), the PTC-vs-direct savings line,
 * prompt, answer, each step in order (Python highlighted, with a "Copy as cell" button; bash,
 * text editor, unknown server tools; `steps.ts`) with its streams, the tool calls (those a saved
 * trace left out counted and marked), the output files (`files.ts`), and usage, estimated cost
 * and container details. Everything from the trace enters the DOM as text (embedded
 * images as an <img> whose `src` is a checked data URI).
 */
import { callsSection } from './calls';
import { collapsible, el } from './dom';
import { filesSection } from './files';
import {
  asText,
  formatBytes,
  formatCost,
  formatInt,
  formatSeconds,
  formatUsd,
  savings
} from './format';
import { parseTrace } from './parse';
import { copyCellButton } from './scriptcell';
import { Highlighter, stepSection, stepTitles } from './steps';
import { callFailed, ITrace, KNOWN_VERSION } from './types';
import { wireCompareSection, wireSection } from './wire';

const C = 'jp-PtcTrace';

function fact(
  parent: HTMLElement,
  label: string,
  value: string,
  cls?: string
): void {
  const item = parent.appendChild(
    el('span', `${C}-fact${cls ? ' ' + cls : ''}`)
  );
  item.appendChild(el('span', `${C}-factlabel`, label));
  item.appendChild(el('span', `${C}-factvalue`, value));
}

function header(trace: ITrace): HTMLElement {
  const box = el('div', `${C}-header`);
  const title = box.appendChild(el('div', `${C}-title`));
  title.appendChild(
    el(
      'span',
      `${C}-badge ${C}-mode`,
      trace.mode === 'direct' ? 'direct' : 'PTC'
    )
  );
  title.appendChild(
    el(
      'span',
      `${C}-badge ${C}-runstatus ${C}-runstatus-${trace.status.replace(/[^a-z]/g, '')}`,
      trace.status
    )
  );
  if (trace.model) {
    title.appendChild(el('span', `${C}-model`, trace.model));
  }
  if (trace.backend) {
    title.appendChild(el('span', `${C}-backend`, trace.backend));
  }
  const facts = box.appendChild(el('div', `${C}-facts`));
  if (trace.requests !== null) {
    fact(facts, 'round trips', formatInt(trace.requests), `${C}-requests`);
  }
  const failed =
    trace.calls.filter(callFailed).length + (trace.callsOmitted?.failed ?? 0);
  const total = trace.calls.length + (trace.callsOmitted?.count ?? 0);
  fact(
    facts,
    'tool calls',
    formatInt(total) + (failed ? ` (${formatInt(failed)} failed)` : ''),
    `${C}-callcount`
  );
  if (trace.wallS !== null) {
    fact(facts, 'wall time', formatSeconds(trace.wallS));
  }
  if (trace.cost) {
    costFact(facts, trace);
  }
  if (trace.contextBytes !== null) {
    fact(facts, 'tool output in context', formatBytes(trace.contextBytes));
  }
  if (trace.files.length) {
    fact(facts, 'files', formatInt(trace.files.length), `${C}-filecount`);
  }
  return box;
}

/** `≈ $0.0123 (estimate)`; its parts in the tooltip. */
function costFact(parent: HTMLElement, trace: ITrace): void {
  if (!trace.cost) {
    return;
  }
  fact(parent, 'cost', formatCost(trace.cost), `${C}-cost`);
  const parts = Object.entries(trace.cost.parts).filter(([, v]) => v > 0);
  (parent.lastChild as HTMLElement).title = parts.length
    ? parts
        .map(
          ([k, v]) =>
            `${k.replace(/_usd$/, '').replace(/_/g, ' ')} ${formatUsd(v)}`
        )
        .join(' + ')
    : 'no tokens recorded';
}

function savingsLine(trace: ITrace): HTMLElement | null {
  if (!trace.comparison) {
    return null;
  }
  const items = savings(trace.comparison);
  if (!items.length) {
    return null;
  }
  const line = el('div', `${C}-savings`);
  line.appendChild(el('span', `${C}-savingslabel`, 'PTC vs direct'));
  for (const s of items) {
    const item = line.appendChild(
      el('span', `${C}-saving ${s.better ? `${C}-better` : `${C}-worse`}`)
    );
    item.dataset.measure = s.key;
    item.appendChild(el('span', `${C}-factlabel`, s.label));
    item.appendChild(document.createTextNode(` ${s.ptc} vs ${s.direct}`));
    if (s.change) {
      item.appendChild(el('span', `${C}-change`, ` (${s.change})`));
    }
  }
  return line;
}

function section(title: string, cls: string): HTMLElement {
  const box = el('section', `${C}-section ${cls}`);
  box.appendChild(el('h3', `${C}-heading`, title));
  return box;
}

function details(trace: ITrace): HTMLElement {
  const box = section('Usage', `${C}-details`);
  const facts = box.appendChild(el('div', `${C}-facts ${C}-usage`));
  for (const [key, value] of Object.entries(trace.usage)) {
    if (typeof value === 'number') {
      fact(facts, key.replace(/_/g, ' '), formatInt(value));
    } else if (value !== null && value !== undefined) {
      fact(facts, key.replace(/_/g, ' '), asText(value));
    }
  }
  if (trace.requests !== null) {
    fact(facts, 'round trips', formatInt(trace.requests));
  }
  costFact(facts, trace);
  if (trace.conversation) {
    fact(facts, 'conversation', trace.conversation);
  }
  fact(facts, 'container', trace.containerId ?? '—', `${C}-container`);
  if (trace.stopReason) {
    fact(facts, 'stop reason', trace.stopReason);
  }
  if (trace.startedAt !== null) {
    fact(facts, 'started', new Date(trace.startedAt * 1000).toLocaleString());
  }
  return box;
}

/** Build the whole trace into `root`; resolves when syntax highlighting is done. */
export function renderTrace(
  root: HTMLElement,
  data: unknown,
  highlight: Highlighter
): Promise<void> {
  const trace = parseTrace(data);
  const done: Promise<void>[] = [];
  root.appendChild(header(trace));
  const saved = savingsLine(trace);
  if (saved) {
    root.appendChild(saved);
  }
  const compared = wireCompareSection(trace.wireComparison);
  if (compared) {
    root.appendChild(compared);
  }
  if (trace.version !== null && trace.version > KNOWN_VERSION) {
    root.appendChild(
      el(
        'div',
        `${C}-note`,
        `Trace version ${trace.version} is newer than this renderer (${KNOWN_VERSION}); some fields may be missing.`
      )
    );
  }
  if (trace.error) {
    root.appendChild(el('div', `${C}-runerror`, trace.error));
  }
  for (const notice of trace.notices) {
    root.appendChild(el('div', `${C}-notice`, notice));
  }
  if (trace.prompt) {
    const box = root.appendChild(section('Prompt', `${C}-promptsection`));
    box.appendChild(collapsible(trace.prompt, `${C}-prompt`, 600, 6));
  }
  const answer = root.appendChild(section('Answer', `${C}-answersection`));
  answer.appendChild(
    el(
      'div',
      `${C}-answer`,
      trace.text || (trace.status === 'running' ? '…' : '(no text)')
    )
  );
  const titles = stepTitles(trace.steps);
  trace.steps.forEach((step, i) => {
    const callCount =
      step.kind === 'python'
        ? trace.calls.filter(c => c.scriptId === step.id).length +
          (trace.callsOmitted?.byScript[step.id] ?? 0)
        : null;
    const box = root.appendChild(
      stepSection(step, titles[i], callCount, highlight, done)
    );
    if (step.kind === 'python') {
      const n = trace.scripts.indexOf(step) + 1;
      box
        .querySelector(`.${C}-heading`)
        ?.appendChild(copyCellButton(trace.prompt, trace.scripts, n));
    }
  });
  root.appendChild(
    callsSection(
      trace.calls,
      trace.scripts,
      trace.wallS,
      trace.callsOmitted,
      trace.callsNote
    )
  );
  const files = filesSection(trace.files, trace.filesNote);
  if (files) {
    root.appendChild(files);
  }
  const wire = wireSection(trace.wire);
  if (wire) {
    root.appendChild(wire);
  }
  root.appendChild(details(trace));
  return Promise.all(done).then(() => undefined);
}

/** The text shown in place of a trace that could not be rendered. */
export function couldNotRender(reason: unknown): string {
  return `Could not render this PTC trace: ${String(reason)}`;
}

/**
 * Replace what `root` holds with the trace. A malformed trace must not break the notebook: if
 * building or highlighting fails, what happened is shown as text after whatever was built.
 * `built` runs when the DOM is built (before highlighting ends); the promise never rejects.
 */
export async function showTrace(
  root: HTMLElement,
  data: unknown,
  highlight: Highlighter,
  built?: () => void
): Promise<void> {
  root.replaceChildren();
  try {
    const highlighted = renderTrace(root, data, highlight);
    built?.();
    await highlighted;
  } catch (reason) {
    root.appendChild(el('pre', `${C}-runerror`, couldNotRender(reason)));
  }
}
