/** calls.ts: the timeline and the paginated calls table; call statuses from the one table. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { callsSection, PAGE_SIZE, timeAxis } from '../src/calls';
import { parseTrace } from '../src/parse';
import {
  CALL_STATUS_TABLE,
  callFailed,
  FAILED_STATUSES,
  ITrace
} from '../src/types';
import { fake, FakeElement, installFakeDom } from './fakedom';
import { newerTrace, portfolioTrace } from './samples';

installFakeDom();

function render(trace: ITrace): FakeElement {
  return fake(
    callsSection(
      trace.calls,
      trace.scripts,
      trace.wallS,
      trace.callsOmitted,
      trace.callsNote
    )
  );
}

function rows(section: FakeElement): string[][] {
  return section
    .querySelectorAll('tr.jp-PtcTrace-row')
    .map(tr => tr.children.slice(0, 3).map(td => td.textContent));
}

function manyCalls(n: number, failEvery = 0): ITrace {
  const calls = Array.from({ length: n }, (_, i) => ({
    id: `toolu_${i}`,
    name: 'fetch',
    status: failEvery && i % failEvery === failEvery - 1 ? 'error' : 'ok',
    started_s: i * 0.01,
    duration_s: 0.005
  }));
  return parseTrace({ calls, wall_s: n * 0.01 });
}

test('timeAxis: the later of wall time and the last call end, never 0', () => {
  const trace = parseTrace(portfolioTrace());
  assert.equal(timeAxis(trace.calls, 1.5), 1.5);
  assert.ok(Math.abs(timeAxis(trace.calls, 0.1) - 0.23) < 1e-9);
  assert.equal(timeAxis([], null), 1);
});

describe('a small trace', () => {
  const section = render(parseTrace(portfolioTrace()));

  test('heading counts calls and failures', () => {
    assert.equal(
      section.querySelector('h3.jp-PtcTrace-heading')?.textContent,
      'Tool calls (4) · 1 failed'
    );
  });

  test('one row per call: number, tool, which script called it', () => {
    assert.deepEqual(rows(section), [
      ['1', 'get_prices', 'script 1'],
      ['2', 'get_prices', 'script 1'],
      ['3', 'get_prices', 'script 1'],
      ['4', 'get_prices', 'script 1']
    ]);
    assert.equal(
      section.querySelectorAll('tr.jp-PtcTrace-row-error').length,
      1
    );
    assert.equal(
      section.querySelector('span.jp-PtcTrace-status-failed')?.textContent,
      '✗ error'
    );
  });

  test('the overview has one bar per timed call, the failed one marked', () => {
    const bars = section.querySelectorAll('rect');
    assert.equal(bars.length, 4);
    assert.equal(
      bars.filter(b => b.getAttribute('class')?.includes('bar-error')).length,
      1
    );
  });

  test('no pager for one page', () => {
    assert.equal(
      section.querySelector('span.jp-PtcTrace-pager')?.style.display,
      'none'
    );
  });
});

describe('many calls: one page at a time', () => {
  const n = PAGE_SIZE * 2 + 7;
  const section = render(manyCalls(n, 10));
  const info = () =>
    section.querySelector('span.jp-PtcTrace-pageinfo')?.textContent;
  const button = (name: string) =>
    section.querySelector(`button.jp-PtcTrace-page-${name}`) as FakeElement;

  test('first page', () => {
    assert.equal(rows(section).length, PAGE_SIZE);
    assert.equal(info(), `1–${PAGE_SIZE} of ${n}`);
    assert.equal(button('prev').disabled, true);
    assert.equal(button('next').disabled, false);
  });

  test('next and last', () => {
    button('next').dispatch('click');
    assert.equal(rows(section)[0][0], String(PAGE_SIZE + 1));
    button('last').dispatch('click');
    assert.equal(info(), `${2 * PAGE_SIZE + 1}–${n} of ${n}`);
    assert.equal(rows(section).length, 7);
    assert.equal(button('next').disabled, true);
  });

  test('failed only', () => {
    const box = section.querySelector('label.jp-PtcTrace-filter')
      ?.children[0] as FakeElement;
    box.checked = true;
    box.dispatch('change');
    assert.equal(info(), `1–${Math.floor(n / 10)} of ${Math.floor(n / 10)}`);
    assert.ok(rows(section).every(([num]) => Number(num) % 10 === 0));
  });
});

test('calls a saved trace left out: counted, and marked between rows and at the end', () => {
  const trace = parseTrace({
    calls: [{ name: 'a' }, { name: 'b' }],
    calls_omitted: {
      count: 4,
      failed: 1,
      gaps: [[1, 3]],
      by_status: { ok: 3, error: 1 }
    },
    calls_note: '… 4 more calls not saved'
  });
  const section = render(trace);
  assert.equal(
    section.querySelector('h3.jp-PtcTrace-heading')?.textContent,
    'Tool calls (6) · 1 failed'
  );
  assert.equal(
    section.querySelector('div.jp-PtcTrace-callsnote')?.textContent,
    '… 4 more calls not saved'
  );
  assert.deepEqual(
    section.querySelectorAll('tr.jp-PtcTrace-gap').map(tr => tr.textContent),
    ['… 3 calls not saved', '… 1 call not saved']
  );
  assert.equal(
    section.querySelector('span.jp-PtcTrace-pageinfo')?.textContent,
    '1–2 of 2 saved'
  );
});

test('no calls', () => {
  const section = render(parseTrace({}));
  assert.equal(
    section.querySelector('div.jp-PtcTrace-none')?.textContent,
    'No tool calls.'
  );
});

describe('call statuses come from the one table', () => {
  for (const [status, { failed }] of Object.entries(CALL_STATUS_TABLE)) {
    test(`${status}: ${failed ? 'a failure' : 'not a failure'}`, () => {
      const trace = parseTrace({ calls: [{ name: 'f', status }] });
      assert.equal(callFailed(trace.calls[0]), failed);
      const badge = render(trace).querySelector(
        'span.jp-PtcTrace-badge'
      ) as FakeElement;
      assert.equal(badge.textContent, failed ? `✗ ${status}` : status);
      assert.equal(
        badge.classList.contains('jp-PtcTrace-status-failed'),
        failed
      );
    });
  }

  test('the failures: errors and the reasons a call was refused or stopped (as Python counts them)', () => {
    const failed = Object.entries(CALL_STATUS_TABLE).filter(
      ([, v]) => v.failed
    );
    assert.deepEqual(failed.map(([k]) => k).sort(), [
      'cancelled',
      'denied',
      'error',
      'rejected',
      'timeout'
    ]);
    assert.deepEqual([...FAILED_STATUSES].sort(), [
      'cancelled',
      'denied',
      'error',
      'rejected',
      'timeout'
    ]);
  });

  test('a status from a newer version is shown as it is, not as a failure', () => {
    const trace = parseTrace(newerTrace());
    const section = render(trace);
    assert.equal(
      section.querySelector('h3.jp-PtcTrace-heading')?.textContent,
      'Tool calls (5) · 1 failed'
    );
    const badges = section
      .querySelectorAll('span.jp-PtcTrace-badge')
      .map(b => b.textContent);
    assert.equal(badges[4], 'deferred');
  });

  test('is_error makes any status a failure', () => {
    const trace = parseTrace({
      calls: [{ name: 'f', status: 'ok', is_error: true }]
    });
    assert.equal(
      render(trace).querySelector('span.jp-PtcTrace-badge')?.textContent,
      '✗ error'
    );
  });
});
