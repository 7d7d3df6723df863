/**
 * The Wire section: one row per API round trip (`Run.exchanges`, `ptc_jupyter/trace/exchanges.py`),
 * each opening to its request and response JSON with the PTC parts marked, and, for a comparison,
 * PTC and direct side by side with a bar of context bytes per round trip.
 *
 * The marks come from the trace (computed once, in Python), so this view marks the same parts as
 * the saved HTML (`display/wire.py`) and the live view. Traces without `exchanges` show no section.
 */
import { el } from './dom';
import { formatBytes, formatInt } from './format';

const C = 'jp-PtcTrace';

type Dict = { [key: string]: unknown };

function isDict(value: unknown): value is Dict {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function numOr(value: unknown, fallback: number | null): number | null {
  return typeof value === 'number' && isFinite(value) ? value : fallback;
}

function strOr(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}

/** A PTC part of an exchange's JSON: where it is (a JSON Pointer) and what it is. */
export interface IWireMark {
  path: string;
  part: string;
  label: string;
}

/** One API round trip, as the saved trace holds it. */
export interface IExchange {
  index: number;
  sent: string;
  received: string;
  stopReason: string | null;
  error: string | null;
  streamed: boolean;
  requestBytes: number;
  responseBytes: number;
  contextBytes: number;
  inputTokens: number | null;
  outputTokens: number | null;
  earlierMessages: number;
  toolsAsIn: number | null;
  request: unknown;
  response: unknown;
  marks: IWireMark[];
}

export interface IWire {
  exchanges: IExchange[];
  omitted: number;
  /** `{part: "label: what it is for"}` for the parts marked (`wire_legend`). */
  legend: [string, string][];
}

/** One side's round trip in a comparison (`comparison.<side>.wire`). */
export interface IWireRow {
  index: number;
  sent: string;
  received: string;
  stopReason: string | null;
  contextBytes: number;
}

function parseMark(raw: unknown): IWireMark | null {
  if (!isDict(raw) || typeof raw.path !== 'string') {
    return null;
  }
  const part = strOr(raw.part, '');
  return { path: raw.path, part, label: strOr(raw.label, part) };
}

export function parseExchange(raw: unknown, position: number): IExchange {
  const d: Dict = isDict(raw) ? raw : {};
  return {
    index: numOr(d.index, position + 1) as number,
    sent: strOr(d.sent, ''),
    received: strOr(d.received, ''),
    stopReason: typeof d.stop_reason === 'string' ? d.stop_reason : null,
    error: typeof d.error === 'string' ? d.error : null,
    streamed: d.streamed === true,
    requestBytes: numOr(d.request_bytes, 0) as number,
    responseBytes: numOr(d.response_bytes, 0) as number,
    contextBytes: numOr(d.context_bytes, 0) as number,
    inputTokens: numOr(d.input_tokens, null),
    outputTokens: numOr(d.output_tokens, null),
    earlierMessages: numOr(d.earlier_messages, 0) as number,
    toolsAsIn: numOr(d.tools_as_in, null),
    request: d.request ?? null,
    response: d.response ?? null,
    marks: (Array.isArray(d.marks) ? d.marks : [])
      .map(parseMark)
      .filter((m): m is IWireMark => m !== null)
  };
}

/** The wire of a saved trace; null when it has none (traces saved before it existed). */
export function parseWire(trace: unknown): IWire | null {
  if (!isDict(trace) || !Array.isArray(trace.exchanges)) {
    return null;
  }
  const exchanges = trace.exchanges.map(parseExchange);
  if (!exchanges.length) {
    return null;
  }
  const legend = isDict(trace.wire_legend)
    ? Object.entries(trace.wire_legend).map(([k, v]): [string, string] => [
        k,
        strOr(v, k)
      ])
    : [];
  return {
    exchanges,
    omitted: numOr(trace.exchanges_omitted, 0) as number,
    legend
  };
}

/** Both sides' round trips of a comparison; null unless both have them. */
export function parseWireComparison(
  comparison: unknown
): { ptc: IWireRow[]; direct: IWireRow[] } | null {
  if (!isDict(comparison)) {
    return null;
  }
  const side = (raw: unknown): IWireRow[] =>
    (isDict(raw) && Array.isArray(raw.wire) ? raw.wire : [])
      .filter(isDict)
      .map((r, i) => ({
        index: numOr(r.index, i + 1) as number,
        sent: strOr(r.sent, ''),
        received: strOr(r.received, ''),
        stopReason: typeof r.stop_reason === 'string' ? r.stop_reason : null,
        contextBytes: numOr(r.context_bytes, 0) as number
      }));
  const ptc = side(comparison.ptc);
  const direct = side(comparison.direct);
  return ptc.length && direct.length ? { ptc, direct } : null;
}

/** The row's one line, as `display/wire.py` `round_trip_summary` writes it. */
export function roundTripSummary(e: IExchange): string {
  const parts = [
    `#${e.index} → ${e.sent || '?'} (${formatBytes(e.requestBytes)})`,
    `← ${e.received || e.error || 'no response'}`
  ];
  if (e.stopReason) {
    parts.push(e.stopReason);
  }
  parts.push(`context +${formatBytes(e.contextBytes)}`);
  if (e.inputTokens !== null && e.outputTokens !== null) {
    parts.push(
      `${formatInt(e.inputTokens)} in / ${formatInt(e.outputTokens)} out tokens`
    );
  }
  return parts.join(' · ');
}

function pointerPart(key: string | number): string {
  return String(key).replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * `value` as indented JSON text nodes into `parent`; each subtree whose pointer is marked goes
 * into a `span.jp-PtcTrace-wiremark` (its `data-part`) followed by its label.
 */
export function appendJson(
  parent: HTMLElement,
  value: unknown,
  marks: Map<string, IWireMark>,
  path = '',
  indent = 0
): void {
  const mark = marks.get(path);
  let into = parent;
  if (mark) {
    into = parent.appendChild(el('span', `${C}-wiremark`));
    into.dataset.part = mark.part;
    into.title = mark.label;
  }
  const pad = '  '.repeat(indent);
  const text = (t: string) => into.appendChild(document.createTextNode(t));
  if (Array.isArray(value) && value.length) {
    text('[\n');
    value.forEach((v, i) => {
      text(pad + '  ');
      appendJson(into, v, marks, `${path}/${i}`, indent + 1);
      text(i < value.length - 1 ? ',\n' : '\n');
    });
    text(pad + ']');
  } else if (isDict(value) && Object.keys(value).length) {
    const entries = Object.entries(value);
    text('{\n');
    entries.forEach(([k, v], i) => {
      text(`${pad}  ${JSON.stringify(k)}: `);
      appendJson(into, v, marks, `${path}/${pointerPart(k)}`, indent + 1);
      text(i < entries.length - 1 ? ',\n' : '\n');
    });
    text(pad + '}');
  } else {
    text(JSON.stringify(value) ?? 'null');
  }
  if (mark) {
    parent.appendChild(el('b', `${C}-wirelabel`, `  ← ${mark.label}`));
  }
}

function roundTrip(e: IExchange): HTMLElement {
  const box = el('details', `${C}-wiretrip`);
  box.dataset.index = String(e.index);
  box.appendChild(el('summary', `${C}-wiresummary`, roundTripSummary(e)));
  // the JSON enters the DOM when opened: a long run's wire stays light
  box.addEventListener('toggle', () => {
    if (!box.open || box.childElementCount > 1) {
      return;
    }
    const marks = new Map(e.marks.map(m => [m.path, m]));
    box.appendChild(
      el('div', `${C}-wirenote`, 'request (body only: no headers, no key)')
    );
    if (e.earlierMessages) {
      box.appendChild(
        el(
          'div',
          `${C}-wirenote`,
          `messages: only the new ones; the ${formatInt(e.earlierMessages)} before them were sent again as they were`
        )
      );
    }
    if (e.toolsAsIn !== null) {
      box.appendChild(
        el(
          'div',
          `${C}-wirenote`,
          `tools: the same as in round trip #${e.toolsAsIn}, sent again`
        )
      );
    }
    appendJson(
      box.appendChild(el('pre', `${C}-wirejson ${C}-wirerequest`)),
      e.request,
      marks,
      '/request'
    );
    box.appendChild(
      el(
        'div',
        `${C}-wirenote`,
        `response${e.streamed ? ' (streamed, assembled)' : ''}`
      )
    );
    if (e.response === null) {
      box.appendChild(el('pre', `${C}-runerror`, e.error ?? 'no response'));
    } else {
      appendJson(
        box.appendChild(el('pre', `${C}-wirejson ${C}-wireresponse`)),
        e.response,
        marks,
        '/response'
      );
    }
  });
  return box;
}

/** The Wire section of a trace, or null if it has no exchanges. */
export function wireSection(wire: IWire | null): HTMLElement | null {
  if (!wire) {
    return null;
  }
  const count = wire.exchanges.length + wire.omitted;
  const box = el('section', `${C}-section ${C}-wire`);
  box.appendChild(
    el(
      'h3',
      `${C}-heading`,
      `Wire (${formatInt(count)} round trip${count === 1 ? '' : 's'})`
    )
  );
  const legend = box.appendChild(el('div', `${C}-wirelegend`));
  for (const [part, text] of wire.legend) {
    const item = legend.appendChild(el('div'));
    item.appendChild(
      el('span', `${C}-wiremark`, '\u00a0\u00a0\u00a0')
    ).dataset.part = part;
    item.appendChild(document.createTextNode(' ' + text));
  }
  let previous = 0;
  for (const e of wire.exchanges) {
    if (e.index > previous + 1) {
      box.appendChild(
        el(
          'div',
          `${C}-wirenote`,
          `… ${formatInt(e.index - previous - 1)} round trips left out of the saved trace`
        )
      );
    }
    previous = e.index;
    box.appendChild(roundTrip(e));
  }
  return box;
}

/** PTC and direct round trip by round trip, with a bar of context bytes per request. */
export function wireCompareSection(
  rows: { ptc: IWireRow[]; direct: IWireRow[] } | null
): HTMLElement | null {
  if (!rows) {
    return null;
  }
  const bySide = {
    ptc: new Map(rows.ptc.map(r => [r.index, r])),
    direct: new Map(rows.direct.map(r => [r.index, r]))
  };
  const top = Math.max(
    1,
    ...[...rows.ptc, ...rows.direct].map(r => r.contextBytes)
  );
  const indices = [...new Set([...bySide.ptc.keys(), ...bySide.direct.keys()])];
  indices.sort((a, b) => a - b);
  const box = el('section', `${C}-section ${C}-wirecompare`);
  box.appendChild(
    el('h3', `${C}-heading`, 'Wire: PTC vs direct, round trip by round trip')
  );
  const table = box.appendChild(el('table', `${C}-wirecomparetable`));
  const head = table.createTHead().insertRow();
  for (const h of [
    'round trip',
    'PTC: sent / received',
    'PTC: context',
    'direct: sent / received',
    'direct: context'
  ]) {
    head.appendChild(el('th', undefined, h));
  }
  const body = table.createTBody();
  for (const i of indices) {
    const tr = body.insertRow();
    tr.appendChild(el('td', undefined, `#${i}`));
    for (const side of ['ptc', 'direct'] as const) {
      const r = bySide[side].get(i);
      if (!r) {
        tr.appendChild(el('td', `${C}-wirenote`, '—'));
        tr.appendChild(el('td'));
        continue;
      }
      tr.appendChild(
        el(
          'td',
          `${C}-wirewhat`,
          `→ ${r.sent} ← ${r.received} · ${r.stopReason ?? ''}`
        )
      );
      const cell = tr.appendChild(el('td', `${C}-wirecontext`));
      const bar = cell.appendChild(
        el('span', `${C}-wirebar ${C}-wirebar-${side}`)
      );
      bar.style.width = `${r.contextBytes ? Math.max(1, Math.round((120 * r.contextBytes) / top)) : 0}px`;
      cell.appendChild(
        document.createTextNode(' ' + formatBytes(r.contextBytes))
      );
    }
  }
  box.appendChild(
    el(
      'div',
      `${C}-wirenote`,
      "bars: bytes of tool output that entered Claude's context with each round trip"
    )
  );
  return box;
}
