/** view.ts: the whole trace, and what shows when a trace cannot be rendered. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Highlighter } from '../src/steps';
import { couldNotRender, renderTrace, showTrace } from '../src/view';
import { FakeElement, html, installFakeDom, newRoot } from './fakedom';
import { newerTrace, portfolioTrace, stepsTrace } from './samples';

installFakeDom();

const plain: Highlighter = async () => undefined;

function texts(root: FakeElement, selector: string): string[] {
  return root.querySelectorAll(selector).map(e => e.textContent);
}

function error(root: FakeElement): string | undefined {
  return root.querySelector('pre.jp-PtcTrace-runerror')?.textContent;
}

describe('a complete trace', () => {
  const root = newRoot();
  const done = renderTrace(html(root), portfolioTrace(), plain);

  test('sections in order', async () => {
    await done;
    assert.deepEqual(texts(root, 'h3.jp-PtcTrace-heading').slice(0, 3), [
      'Prompt',
      'Answer',
      'ScriptCopy as cell'
    ]);
    assert.equal(
      root.querySelector('div.jp-PtcTrace-answer')?.textContent,
      'Portfolio B has the best Sharpe ratio (1.42).'
    );
    assert.deepEqual(texts(root, 'div.jp-PtcTrace-notice'), [
      'offline emulator: no API key used'
    ]);
  });

  test('header facts', () => {
    const header = root.querySelector('div.jp-PtcTrace-header') as FakeElement;
    assert.deepEqual(texts(header, 'span.jp-PtcTrace-fact'), [
      'round trips2',
      'tool calls4 (1 failed)',
      'wall time410 ms',
      'cost≈ $0.0117 (estimate)',
      'tool output in context310 B'
    ]);
  });

  test('the savings line', () => {
    assert.deepEqual(
      root
        .querySelectorAll('span.jp-PtcTrace-saving')
        .map(s => s.dataset.measure),
      ['requests', 'context_bytes', 'wall_s']
    );
  });

  test('renders without an error', () => assert.equal(error(root), undefined));
});

test('every step of the steps trace gets a section, files listed', async () => {
  const root = newRoot();
  await renderTrace(html(root), stepsTrace(), plain);
  assert.deepEqual(
    root
      .querySelectorAll('section.jp-PtcTrace-stepsection')
      .map(s => s.className.split(' ')[2]),
    [
      'jp-PtcTrace-step-python',
      'jp-PtcTrace-step-bash',
      'jp-PtcTrace-step-editor',
      'jp-PtcTrace-step-editor',
      'jp-PtcTrace-step-other'
    ]
  );
  assert.deepEqual(texts(root, 'th').slice(-2), ['name', 'score']);
});

test('a trace from a newer version says so and shows what it knows', async () => {
  const root = newRoot();
  await renderTrace(html(root), newerTrace(), plain);
  assert.deepEqual(texts(root, 'div.jp-PtcTrace-note').slice(0, 1), [
    'Trace version 7 is newer than this renderer (2); some fields may be missing.'
  ]);
  assert.equal(
    root.querySelector('span.jp-PtcTrace-runstatus')?.textContent,
    'paused-for-review'
  );
  assert.ok(root.querySelector('section.jp-PtcTrace-step-other'));
  assert.equal(error(root), undefined);
});

describe('malformed data renders as an empty trace, not an error', () => {
  for (const data of [null, 'text', [1], { steps: 'x', calls: 3 }]) {
    test(JSON.stringify(data), async () => {
      const root = newRoot();
      await showTrace(html(root), data, plain);
      assert.equal(error(root), undefined);
      assert.equal(
        root.querySelector('div.jp-PtcTrace-answer')?.textContent,
        '(no text)'
      );
      assert.equal(
        root.querySelector('div.jp-PtcTrace-none')?.textContent,
        'No tool calls.'
      );
    });
  }
});

describe('could not render', () => {
  test('the message names the reason', () => {
    assert.equal(
      couldNotRender(new TypeError('x is not a function')),
      'Could not render this PTC trace: TypeError: x is not a function'
    );
  });

  test('an error while building: what was built stays, the reason follows, as text', async () => {
    const root = newRoot();
    root.appendChild(newRoot()); // what an earlier render left
    const data = portfolioTrace();
    Object.defineProperty(data, 'calls', {
      get: () => {
        throw new RangeError('<b>calls</b> unreadable');
      }
    });
    let built = false;
    await showTrace(html(root), data, plain, () => (built = true));
    assert.equal(built, false, 'the build did not finish');
    assert.equal(
      error(root),
      'Could not render this PTC trace: RangeError: <b>calls</b> unreadable'
    );
    assert.equal(
      root.querySelector('b'),
      null,
      'the message is text, not HTML'
    );
    assert.equal(root.children.length, 1, 'the earlier render was replaced');
  });

  test('highlighting that fails after the build: the trace stays, the reason is appended', async () => {
    const root = newRoot();
    let built = false;
    const failing: Highlighter = async () => {
      throw new Error('no CodeMirror');
    };
    await showTrace(
      html(root),
      portfolioTrace(),
      failing,
      () => (built = true)
    );
    assert.equal(built, true);
    assert.ok(root.querySelector('section.jp-PtcTrace-callsection'));
    assert.equal(
      root.lastChild,
      root.querySelector('pre.jp-PtcTrace-runerror')
    );
    assert.equal(
      error(root),
      'Could not render this PTC trace: Error: no CodeMirror'
    );
  });
});
