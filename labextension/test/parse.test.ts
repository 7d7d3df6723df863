/** parse.ts: untrusted JSON from a notebook becomes an `ITrace`, whatever it holds. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { callNumbers, parseTrace } from '../src/parse';
import {
  callFailed,
  STEP_KIND_NAMES,
  STEP_KIND_TABLE,
  STEP_KINDS,
  stepKindOf
} from '../src/types';
import { newerTrace, portfolioTrace, stepsTrace } from './samples';

describe('a complete trace', () => {
  const trace = parseTrace(portfolioTrace());

  test('keeps the run fields', () => {
    assert.equal(trace.version, 2);
    assert.equal(trace.model, 'claude-sonnet-4-5');
    assert.equal(trace.status, 'completed');
    assert.equal(trace.requests, 2);
    assert.equal(trace.wallS, 0.41);
    assert.equal(trace.stopReason, 'end_turn');
    assert.deepEqual(trace.notices, ['offline emulator: no API key used']);
  });

  test('fills compact calls from call_defaults and numbers them', () => {
    assert.deepEqual(
      trace.calls.map(c => [c.number, c.name, c.status, c.scriptId]),
      [
        [1, 'get_prices', 'ok', 'srvtoolu_01ABC'],
        [2, 'get_prices', 'ok', 'srvtoolu_01ABC'],
        [3, 'get_prices', 'ok', 'srvtoolu_01ABC'],
        [4, 'get_prices', 'error', 'srvtoolu_01ABC']
      ]
    );
    assert.deepEqual(trace.calls.map(callFailed), [false, false, false, true]);
  });

  test('has one Python step, which is also its one script', () => {
    assert.deepEqual(
      trace.steps.map(s => s.kind),
      ['python']
    );
    assert.equal(trace.scripts[0], trace.steps[0]);
    assert.equal(trace.steps[0].returnCode, 0);
  });

  test('cost drops total and container seconds from the parts', () => {
    assert.equal(trace.cost?.totalUsd, 0.011688);
    assert.equal(trace.cost?.estimate, true);
    assert.deepEqual(Object.keys(trace.cost?.parts ?? {}).sort(), [
      'container_usd',
      'input_usd',
      'output_usd'
    ]);
  });

  test('a comparison side without cost_usd takes the derived one', () => {
    assert.equal(trace.comparison?.ptc.cost_usd, 0.011688);
    assert.equal('cost_usd' in (trace.comparison?.direct ?? {}), false);
  });
});

describe('a malformed trace never throws and gives defaults', () => {
  for (const data of [null, undefined, 42, 'a string', [1, 2], true]) {
    test(`not an object: ${JSON.stringify(data)}`, () => {
      const trace = parseTrace(data);
      assert.equal(trace.version, null);
      assert.equal(trace.mode, 'ptc');
      assert.equal(trace.status, 'completed');
      assert.deepEqual(trace.steps, []);
      assert.deepEqual(trace.calls, []);
      assert.deepEqual(trace.usage, {});
      assert.equal(trace.cost, null);
      assert.equal(trace.comparison, null);
    });
  }

  test('fields of the wrong type', () => {
    const trace = parseTrace({
      version: '2',
      prompt: 7,
      text: { not: 'text' },
      steps: 'code_execution',
      calls: { 0: { name: 'f' } },
      usage: ['input_tokens'],
      files: [3, null],
      cost: { total_usd: '1.00' },
      notices: 'one notice',
      wall_s: Infinity,
      comparison: { ptc: { requests: 'two' }, direct: [] },
      calls_omitted: { count: -5 },
      conversation: 'conv_1'
    });
    assert.equal(trace.version, null);
    assert.equal(trace.prompt, '7');
    assert.equal(trace.text, '{"not":"text"}');
    assert.deepEqual(trace.steps, []);
    assert.deepEqual(trace.calls, []);
    assert.deepEqual(trace.usage, {});
    assert.deepEqual(
      trace.files.map(f => [f.name, f.mediaType, f.data]),
      [
        ['file', 'application/octet-stream', null],
        ['file', 'application/octet-stream', null]
      ]
    );
    assert.equal(trace.cost, null);
    assert.deepEqual(trace.notices, []);
    assert.equal(trace.wallS, null);
    assert.equal(trace.comparison, null);
    assert.equal(trace.callsOmitted, null);
    assert.equal(trace.conversation, null);
  });

  test('steps and calls of the wrong type become placeholders', () => {
    const trace = parseTrace({
      steps: [null, 'x', { name: 42, input: 'ls', return_code: '0' }],
      calls: [7, { name: ['f'], is_error: 'yes', duration_s: '1' }]
    });
    assert.deepEqual(
      trace.steps.map(s => [s.id, s.name, s.kind, s.status, s.returnCode]),
      [
        ['step-1', 'code_execution', 'python', 'running', null],
        ['step-2', 'code_execution', 'python', 'running', null],
        ['step-3', '42', 'other', 'running', null]
      ]
    );
    assert.deepEqual(trace.steps[2].input, {});
    assert.deepEqual(
      trace.calls.map(c => [c.id, c.name, c.isError, c.durationS]),
      [
        ['call-1', '?', false, null],
        ['call-2', '["f"]', false, null]
      ]
    );
  });

  test('a step named like an Object.prototype member is an unknown tool', () => {
    const trace = parseTrace({
      steps: ['constructor', 'toString', '__proto__', 'hasOwnProperty'].map(
        name => ({
          name
        })
      )
    });
    assert.deepEqual(
      trace.steps.map(s => s.kind),
      ['other', 'other', 'other', 'other']
    );
    assert.deepEqual(trace.scripts, []);
  });
});

describe('a truncated trace (fields missing)', () => {
  test('an empty object', () => {
    const trace = parseTrace({});
    assert.equal(trace.prompt, '');
    assert.equal(trace.text, '');
    assert.equal(trace.error, null);
    assert.equal(trace.requests, null);
    assert.equal(trace.containerId, null);
  });

  test('calls and steps with only some fields', () => {
    const trace = parseTrace({
      prompt: 'p',
      steps: [
        { id: 's1' },
        { id: 's2', return_code: 2 },
        { id: 's3', error_code: 'x' }
      ],
      calls: [{ name: 'fetch' }, { id: 'toolu_2', status: 'running' }]
    });
    assert.deepEqual(
      trace.steps.map(s => [s.id, s.kind, s.status]),
      [
        ['s1', 'python', 'running'],
        ['s2', 'python', 'failed'],
        ['s3', 'python', 'error']
      ]
    );
    assert.deepEqual(
      trace.calls.map(c => [
        c.number,
        c.id,
        c.name,
        c.caller,
        c.status,
        c.output
      ]),
      [
        [1, 'call-1', 'fetch', 'direct', 'ok', null],
        [2, 'toolu_2', '?', 'direct', 'running', null]
      ]
    );
  });

  test('a version-1 trace: Python steps saved as `scripts` with `code`', () => {
    const trace = parseTrace({
      version: 1,
      scripts: [
        { id: 'a', code: 'print(1)', return_code: 0 },
        { id: 'b', code: 'sleep()', return_code: 1, timeout_s: 90 }
      ]
    });
    assert.deepEqual(
      trace.steps.map(s => [s.kind, s.input.code, s.status]),
      [
        ['python', 'print(1)', 'ok'],
        ['python', 'sleep()', 'timeout']
      ]
    );
  });
});

describe('a trace from a newer version', () => {
  const trace = parseTrace(newerTrace());

  test('keeps its version and run status as they are', () => {
    assert.equal(trace.version, 7);
    assert.equal(trace.status, 'paused-for-review');
  });

  test('an unknown step kind is kept as "other", input and result included', () => {
    const web = trace.steps[1];
    assert.equal(web.kind, 'other');
    assert.equal(web.name, 'web_fetch');
    assert.deepEqual(web.input, { url: 'https://example.com' });
    assert.deepEqual(web.detail, {
      content: { title: 'Example', bytes: 1256 }
    });
    assert.deepEqual(
      trace.scripts.map(s => s.id),
      ['srvtoolu_01ABC']
    );
  });

  test('an unknown call status is kept and not counted as a failure', () => {
    const last = trace.calls[trace.calls.length - 1];
    assert.equal(last.status, 'deferred');
    assert.equal(callFailed(last), false);
    assert.equal(last.number, 5);
  });

  test('unknown fields are ignored, not copied', () => {
    assert.equal('reasoning' in trace, false);
    assert.equal('provenance' in trace.steps[0], false);
    assert.equal('attempt' in trace.calls[4], false);
  });
});

describe('step kinds come from the one table', () => {
  test('every server tool in STEP_KIND_TABLE parses to its kind', () => {
    for (const kind of STEP_KIND_NAMES) {
      for (const tool of STEP_KIND_TABLE[kind].tools) {
        assert.equal(stepKindOf(tool), kind, tool);
        assert.equal(
          parseTrace({ steps: [{ name: tool }] }).steps[0].kind,
          kind
        );
      }
    }
  });

  test('STEP_KINDS lists exactly the tools of the table', () => {
    const tools = STEP_KIND_NAMES.flatMap(k => [...STEP_KIND_TABLE[k].tools]);
    assert.deepEqual(Object.keys(STEP_KINDS).sort(), [...tools].sort());
    assert.equal(new Set(tools).size, tools.length, 'a tool in two kinds');
  });

  test('the steps sample has one step of every kind', () => {
    const kinds = new Set(parseTrace(stepsTrace()).steps.map(s => s.kind));
    assert.deepEqual([...kinds].sort(), [...STEP_KIND_NAMES].sort());
  });
});

describe('callNumbers', () => {
  test('no gaps: 1..n', () => {
    assert.deepEqual(callNumbers(3, null), [1, 2, 3]);
  });

  test('gaps of calls left out shift the numbers after them', () => {
    // 2 hidden before saved call 0, 5 hidden before saved call 2
    assert.deepEqual(
      callNumbers(4, {
        gaps: [
          [0, 2],
          [2, 5]
        ]
      }),
      [3, 4, 10, 11]
    );
  });

  test('malformed gaps are ignored', () => {
    assert.deepEqual(
      callNumbers(3, { gaps: [[1], [1, -2], ['0', 3], [0.5, 1], 'x', [1, 1]] }),
      [1, 3, 4]
    );
  });

  test('a trace with omitted calls numbers its saved calls by the gaps', () => {
    const trace = parseTrace({
      calls: [{ name: 'a' }, { name: 'b' }],
      calls_omitted: {
        count: 3,
        failed: 1,
        gaps: [[1, 3]],
        by_status: { ok: 2, error: 1 }
      }
    });
    assert.deepEqual(
      trace.calls.map(c => c.number),
      [1, 5]
    );
    assert.deepEqual(trace.callsOmitted?.byStatus, { ok: 2, error: 1 });
  });
});

test('conversation text, as the Python renderer writes it', () => {
  const trace = parseTrace({
    conversation: {
      id: 'conv_1a2b',
      turn: 2,
      continues: { turn: 1, prompt: 'Which "region"?' }
    }
  });
  assert.equal(
    trace.conversation,
    'turn 2 of conv_1a2b, continuing turn 1 ("Which \\"region\\"?")'
  );
});
