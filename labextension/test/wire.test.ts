/** wire.ts: the Wire section and the side by side, from a real saved trace's wire. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Highlighter } from '../src/steps';
import { renderTrace } from '../src/view';
import { parseWire, parseWireComparison } from '../src/parse';
import { roundTripSummary, wireSection } from '../src/wire';
import { FakeElement, html, installFakeDom, newRoot } from './fakedom';
import { portfolioTrace } from './samples';
import { wireTrace } from './wiresample';

installFakeDom();

const plain: Highlighter = async () => undefined;

describe('parsing the wire', () => {
  test('one exchange per round trip, its marks and summary', () => {
    const wire = parseWire(wireTrace());
    assert.ok(wire);
    assert.deepEqual(
      wire.exchanges.map(e => [e.index, e.sent, e.stopReason]),
      [
        [1, 'the prompt + 2 tool definitions', 'tool_use'],
        [2, '2 tool_results', 'end_turn']
      ]
    );
    assert.deepEqual(
      wire.exchanges[0].marks.map(m => m.part),
      [
        'code_execution_tool',
        'allowed_callers',
        'server_tool_use',
        'tool_use_from_script',
        'tool_use_from_script',
        'container'
      ]
    );
    const summary = roundTripSummary(wire.exchanges[1]);
    assert.match(
      summary,
      /^#2 → 2 tool_results \(\d\.\d KB\) · ← script result, text · end_turn · context \+\d+ B · \d+ in \/ \d+ out tokens$/
    );
  });

  test('a trace without exchanges, or a broken one, has no wire', () => {
    assert.equal(parseWire(portfolioTrace()), null);
    assert.equal(parseWire({ exchanges: 'nope' }), null);
    const odd = parseWire({ exchanges: [null, { marks: [1, { part: 'x' }] }] });
    assert.deepEqual(
      odd?.exchanges.map(e => [e.index, e.marks.length]),
      [
        [1, 0],
        [2, 0]
      ]
    );
  });

  test('the comparison rows of both sides', () => {
    const rows = parseWireComparison(wireTrace().comparison);
    assert.deepEqual(
      rows?.ptc.map(r => r.index),
      [1, 2]
    );
    assert.deepEqual(
      rows?.direct.map(r => r.index),
      [1, 2, 3]
    );
    assert.equal(parseWireComparison(portfolioTrace().comparison), null);
  });
});

describe('the Wire section', () => {
  const section = wireSection(parseWire(wireTrace())) as unknown as FakeElement;

  test('a row per round trip, the JSON only once opened', () => {
    assert.equal(
      section.querySelector('h3.jp-PtcTrace-heading')?.textContent,
      'Wire (2 round trips)'
    );
    const trips = section.querySelectorAll('details.jp-PtcTrace-wiretrip');
    assert.equal(trips.length, 2);
    assert.equal(
      trips[0].querySelectorAll('pre.jp-PtcTrace-wirejson').length,
      0
    );
    trips[0].open = true;
    trips[0].dispatch('toggle');
    const marked = trips[0]
      .querySelectorAll('span.jp-PtcTrace-wiremark')
      .map(s => s.dataset.part);
    assert.deepEqual(marked.sort(), [
      'allowed_callers',
      'code_execution_tool',
      'container',
      'server_tool_use',
      'tool_use_from_script',
      'tool_use_from_script'
    ]);
    // the pre holds the JSON and, after each marked part, its label
    const request = trips[0].querySelector(
      'pre.jp-PtcTrace-wirerequest'
    ) as FakeElement;
    let json = request.textContent;
    for (const label of request.querySelectorAll('b.jp-PtcTrace-wirelabel')) {
      json = json.replace(label.textContent, '');
    }
    assert.deepEqual(JSON.parse(json), wireTrace().exchanges[0].request);
    const script = trips[0]
      .querySelectorAll('span.jp-PtcTrace-wiremark')
      .find(s => s.dataset.part === 'server_tool_use');
    assert.equal(
      JSON.parse(script?.textContent ?? '').input.code,
      wireTrace().exchanges[0].response.content[1].input.code
    );
    assert.ok(
      trips[0]
        .querySelectorAll('b.jp-PtcTrace-wirelabel')
        .some(b => b.textContent === '  ← the script (server_tool_use)')
    );
  });

  test('in the whole trace: the side by side first, the wire before usage', async () => {
    const root = newRoot();
    await renderTrace(html(root), wireTrace(), plain);
    const headings = root
      .querySelectorAll('h3.jp-PtcTrace-heading')
      .map(h => h.textContent);
    assert.equal(headings[0], 'Wire: PTC vs direct, round trip by round trip');
    assert.deepEqual(headings.slice(-2), ['Wire (2 round trips)', 'Usage']);
    const rows = (
      root.querySelector('table.jp-PtcTrace-wirecomparetable') as FakeElement
    ).querySelectorAll('tr');
    assert.equal(rows.length, 4);
    const bars = root.querySelectorAll('span.jp-PtcTrace-wirebar');
    assert.ok(bars.every(b => /^\d+px$/.test(b.style.width)));
  });
});
