/**
 * The tool-call section: a timeline overview of every call and a paginated table.
 *
 * Only one page of rows (PAGE_SIZE) is in the DOM at a time and long inputs/results are
 * collapsed, so a trace with thousands of calls renders fast and scrolls freely.
 */
import { asText, formatInt, formatSeconds } from './format';
import { collapsible, el, svg } from './dom';
import { callFailed, IOmittedCalls, IScript, IToolCall } from './types';

export const PAGE_SIZE = 50;
const OVERVIEW_MAX_LANES = 24;
const C = 'jp-PtcTrace';

/** Where a call sits in time, for the bars: [start, duration], both in seconds. */
function span(call: IToolCall): [number, number] | null {
  if (call.startedS === null) {
    return null;
  }
  return [call.startedS, Math.max(0, call.durationS ?? 0)];
}

/** The time axis: the run's wall time or the end of the last call, whichever is later. */
export function timeAxis(calls: IToolCall[], wallS: number | null): number {
  let end = wallS ?? 0;
  for (const call of calls) {
    const s = span(call);
    if (s) {
      end = Math.max(end, s[0] + s[1]);
    }
  }
  return end > 0 ? end : 1;
}

/**
 * Greedy interval packing: calls that overlap in time go to different lanes, so the
 * overview shows how many ran at once. Lanes beyond the cap share the last one.
 */
function packLanes(calls: IToolCall[]): number[] {
  const laneEnds: number[] = [];
  const order = calls
    .map((call, i) => [i, span(call)] as [number, [number, number] | null])
    .filter(([, s]) => s !== null) as [number, [number, number]][];
  order.sort((a, b) => a[1][0] - b[1][0]);
  const lanes = new Array<number>(calls.length).fill(-1);
  for (const [i, [start, duration]] of order) {
    let lane = laneEnds.findIndex(end => end <= start + 1e-9);
    if (lane < 0) {
      lane =
        laneEnds.length < OVERVIEW_MAX_LANES
          ? laneEnds.length
          : OVERVIEW_MAX_LANES - 1;
    }
    laneEnds[lane] = Math.max(laneEnds[lane] ?? 0, start + duration);
    lanes[i] = lane;
  }
  return lanes;
}

function overview(calls: IToolCall[], axisS: number): HTMLElement | null {
  const lanes = packLanes(calls);
  const laneCount = Math.max(0, ...lanes) + 1;
  if (lanes.every(l => l < 0)) {
    return null;
  }
  const laneHeight = laneCount > 12 ? 4 : 8;
  const height = laneCount * (laneHeight + 2);
  const box = el('div', `${C}-overview`);
  const chart = svg('svg', {
    width: '100%',
    height,
    viewBox: `0 0 1000 ${height}`,
    preserveAspectRatio: 'none',
    role: 'img'
  });
  chart.appendChild(svg('title')).textContent =
    `${calls.length} calls over ${formatSeconds(axisS)}; ${laneCount} at most at once`;
  calls.forEach((call, i) => {
    const s = span(call);
    if (!s || lanes[i] < 0) {
      return;
    }
    const rect = svg('rect', {
      x: ((1000 * s[0]) / axisS).toFixed(2),
      y: lanes[i] * (laneHeight + 2),
      width: Math.max(2, (1000 * s[1]) / axisS).toFixed(2),
      height: laneHeight,
      class: callFailed(call) ? `${C}-bar ${C}-bar-error` : `${C}-bar`
    });
    rect.appendChild(svg('title')).textContent =
      `#${call.number} ${call.name} ${formatSeconds(s[1])}`;
    chart.appendChild(rect);
  });
  box.appendChild(chart);
  const axis = el('div', `${C}-axis`);
  axis.appendChild(el('span', undefined, '0'));
  axis.appendChild(el('span', undefined, formatSeconds(axisS)));
  box.appendChild(axis);
  return box;
}

function callerLabel(
  call: IToolCall,
  scriptIndex: Map<string, number>
): string {
  if (call.caller === 'direct') {
    return 'direct';
  }
  const n = call.scriptId !== null ? scriptIndex.get(call.scriptId) : undefined;
  return n !== undefined ? `script ${n + 1}` : 'script';
}

function row(
  call: IToolCall,
  index: number,
  axisS: number,
  scriptIndex: Map<string, number>
): HTMLTableRowElement {
  const tr = el(
    'tr',
    callFailed(call) ? `${C}-row ${C}-row-error` : `${C}-row`
  );
  tr.dataset.callIndex = String(index);
  tr.appendChild(el('td', `${C}-num`, String(call.number)));
  tr.appendChild(el('td', `${C}-tool`, call.name));
  const caller = tr.appendChild(
    el('td', `${C}-caller`, callerLabel(call, scriptIndex))
  );
  caller.title =
    call.caller +
    (call.requestIndex !== null ? ` · round trip ${call.requestIndex}` : '');
  tr.appendChild(el('td', `${C}-input`)).appendChild(
    collapsible(asText(call.input), `${C}-value`)
  );
  const result = tr.appendChild(el('td', `${C}-result`));
  result.appendChild(
    call.output === null
      ? el(
          'span',
          `${C}-none`,
          call.status === 'pending' || call.status === 'running' ? '…' : '—'
        )
      : collapsible(call.output, `${C}-value`)
  );
  const status = tr.appendChild(el('td', `${C}-status`));
  status.appendChild(
    el(
      'span',
      `${C}-badge ${C}-status-${callFailed(call) ? 'failed' : call.status.replace(/[^a-z]/g, '')}`,
      callFailed(call)
        ? `✗ ${call.status === 'ok' ? 'error' : call.status}`
        : call.status
    )
  );
  tr.appendChild(
    el(
      'td',
      `${C}-duration`,
      call.durationS !== null ? formatSeconds(call.durationS) : ''
    )
  );
  const lane = tr
    .appendChild(el('td', `${C}-lanecell`))
    .appendChild(el('div', `${C}-lane`));
  const s = span(call);
  if (s) {
    const bar = lane.appendChild(
      el('div', callFailed(call) ? `${C}-bar ${C}-bar-error` : `${C}-bar`)
    );
    bar.style.left = `${(100 * s[0]) / axisS}%`;
    bar.style.width = `${Math.max(0.5, (100 * s[1]) / axisS)}%`;
    lane.title = `starts at ${formatSeconds(s[0])}, takes ${formatSeconds(s[1])}`;
  }
  return tr;
}

/** The row that stands for calls a saved trace left out. */
function gapRow(hidden: number): HTMLTableRowElement {
  const tr = el('tr', `${C}-gap`);
  const td = tr.appendChild(
    el(
      'td',
      `${C}-none`,
      `… ${formatInt(hidden)} call${hidden === 1 ? '' : 's'} not saved`
    )
  );
  td.colSpan = 8;
  return tr;
}

/**
 * Build the whole section; returns the element to append. `omitted`/`note`: the calls a saved
 * trace of a big run left out (counted in the heading, marked between rows and below the table).
 */
export function callsSection(
  calls: IToolCall[],
  scripts: IScript[],
  wallS: number | null,
  omitted: IOmittedCalls | null = null,
  note: string | null = null
): HTMLElement {
  const section = el('section', `${C}-section ${C}-callsection`);
  const failed = calls.filter(callFailed).length + (omitted?.failed ?? 0);
  const total = calls.length + (omitted?.count ?? 0);
  const heading = section.appendChild(
    el('h3', `${C}-heading`, `Tool calls (${formatInt(total)})`)
  );
  if (failed) {
    heading.appendChild(
      el('span', `${C}-errorcount`, ` · ${formatInt(failed)} failed`)
    );
  }
  if (omitted) {
    const text = note ?? `… ${formatInt(omitted.count)} more calls not saved`;
    const marker = section.appendChild(
      el('div', `${C}-note ${C}-callsnote`, text)
    );
    marker.title = Object.entries(omitted.byStatus)
      .map(([k, v]) => `${k}: ${formatInt(v)}`)
      .join(', ');
  }
  if (!calls.length) {
    section.appendChild(
      el(
        'div',
        `${C}-none`,
        omitted ? 'No tool calls saved.' : 'No tool calls.'
      )
    );
    return section;
  }
  const axisS = timeAxis(calls, wallS);
  const chart = overview(calls, axisS);
  if (chart) {
    section.appendChild(chart);
  }
  const scriptIndex = new Map(
    scripts.map((s, i) => [s.id, i] as [string, number])
  );

  // controls: errors-only filter + pager
  const controls = section.appendChild(el('div', `${C}-controls`));
  let onlyErrors = false;
  if (failed) {
    const label = controls.appendChild(el('label', `${C}-filter`));
    const box = label.appendChild(el('input'));
    box.type = 'checkbox';
    label.appendChild(document.createTextNode(' failed only'));
    box.addEventListener('change', () => {
      onlyErrors = box.checked;
      page = 0;
      draw();
    });
  }
  const pager = controls.appendChild(el('span', `${C}-pager`));
  const button = (
    text: string,
    title: string,
    cls: string
  ): HTMLButtonElement => {
    const b = pager.appendChild(
      el(
        'button',
        `jp-Button jp-mod-minimal jp-mod-styled ${C}-page-${cls}`,
        text
      )
    );
    b.type = 'button';
    b.title = title;
    return b;
  };
  const first = button('«', 'first page', 'first');
  const prev = button('‹', 'previous page', 'prev');
  const info = pager.appendChild(el('span', `${C}-pageinfo`));
  const next = button('›', 'next page', 'next');
  const last = button('»', 'last page', 'last');

  const wrap = section.appendChild(el('div', `${C}-tablewrap`));
  const table = wrap.appendChild(el('table', `${C}-calls`));
  const head = table.createTHead().insertRow();
  for (const h of [
    '#',
    'tool',
    'caller',
    'input',
    'result',
    'status',
    'took',
    'timeline'
  ]) {
    head.appendChild(el('th', undefined, h));
  }
  const body = table.createTBody();
  let page = 0;

  function draw(): void {
    const shown = onlyErrors
      ? calls
          .map((c, i) => [c, i] as [IToolCall, number])
          .filter(([c]) => callFailed(c))
      : calls.map((c, i) => [c, i] as [IToolCall, number]);
    const pages = Math.max(1, Math.ceil(shown.length / PAGE_SIZE));
    page = Math.min(Math.max(0, page), pages - 1);
    const from = page * PAGE_SIZE;
    const to = Math.min(shown.length, from + PAGE_SIZE);
    const rows = document.createDocumentFragment();
    for (let k = from; k < to; k++) {
      const before = k > 0 ? shown[k - 1][0].number : 0;
      if (!onlyErrors && shown[k][0].number > before + 1) {
        rows.appendChild(gapRow(shown[k][0].number - before - 1));
      }
      rows.appendChild(row(shown[k][0], shown[k][1], axisS, scriptIndex));
    }
    if (
      !onlyErrors &&
      to === shown.length &&
      omitted &&
      total > shown[to - 1][0].number
    ) {
      rows.appendChild(gapRow(total - shown[to - 1][0].number));
    }
    body.replaceChildren(rows);
    const saved = omitted ? ' saved' : '';
    info.textContent = shown.length
      ? `${from + 1}–${to} of ${shown.length}${saved}`
      : 'none';
    first.disabled = prev.disabled = page === 0;
    next.disabled = last.disabled = page >= pages - 1;
    pager.style.display = pages > 1 ? '' : 'none';
  }
  first.addEventListener('click', () => {
    page = 0;
    draw();
  });
  prev.addEventListener('click', () => {
    page -= 1;
    draw();
  });
  next.addEventListener('click', () => {
    page += 1;
    draw();
  });
  last.addEventListener('click', () => {
    page = Number.MAX_SAFE_INTEGER;
    draw();
  });
  draw();
  return section;
}
