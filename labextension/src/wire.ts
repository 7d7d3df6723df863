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
import { IExchange, IWire, IWireComparison, IWireMark } from './types';

const C = 'jp-PtcTrace';

function isDict(value: unknown): value is { [key: string]: unknown } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
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
  rows: IWireComparison | null
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
