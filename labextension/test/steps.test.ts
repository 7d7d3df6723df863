/** steps.ts: one section per step; every kind of the table has a view (`STEP_VIEWS`). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { parseTrace } from '../src/parse';
import {
  editorDiff,
  Highlighter,
  STEP_VIEWS,
  stepCode,
  stepLabel,
  stepSection,
  stepState,
  stepTitles
} from '../src/steps';
import {
  FAILED_STEP_STATUSES,
  IStep,
  STEP_KIND_NAMES,
  STEP_KIND_TABLE,
  STEP_STATUS_TABLE,
  StepKind
} from '../src/types';
import { fake, FakeElement, installFakeDom } from './fakedom';
import { stepsTrace } from './samples';

installFakeDom();

function step(raw: object): IStep {
  return parseTrace({ steps: [raw] }).steps[0];
}

/** A highlighter that records what it was asked to colour (JupyterLab's needs CodeMirror). */
function recorder(): { calls: string[]; highlight: Highlighter } {
  const calls: string[] = [];
  return {
    calls,
    highlight: async (code: string, target: HTMLElement) => {
      calls.push(code);
      fake(target).classList.add('highlighted');
    }
  };
}

function section(
  s: IStep,
  title = 'T',
  callCount: number | null = null
): FakeElement {
  const done: Promise<void>[] = [];
  return fake(stepSection(s, title, callCount, recorder().highlight, done));
}

function facts(box: FakeElement): string[] {
  return box.querySelectorAll('span.jp-PtcTrace-fact').map(f => f.textContent);
}

/** A step of each kind, as a saved trace holds it, and what its section must show. */
const EXAMPLES: {
  [K in StepKind]: { raw: object; shows: (box: FakeElement) => void };
} = {
  python: {
    raw: {
      name: 'code_execution',
      input: { code: 'print(1)' },
      return_code: 0
    },
    shows: box => {
      assert.equal(
        box.querySelector('pre.jp-PtcTrace-script')?.textContent,
        'print(1)'
      );
      assert.ok(
        box
          .querySelector('code.language-python')
          ?.classList.contains('highlighted')
      );
    }
  },
  bash: {
    raw: {
      name: 'bash_code_execution',
      input: { command: 'ls /tmp' },
      return_code: 0
    },
    shows: box => {
      assert.equal(
        box.querySelector('pre.jp-PtcTrace-command')?.textContent,
        '$ ls /tmp'
      );
    }
  },
  editor: {
    raw: {
      name: 'text_editor_code_execution',
      input: {
        command: 'str_replace',
        path: '/a.txt',
        old_str: 'x',
        new_str: 'y'
      },
      result_type: 'text_editor_code_execution_str_replace_result'
    },
    shows: box => {
      assert.equal(
        box.querySelector('span.jp-PtcTrace-editorcommand')?.textContent,
        ' · str_replace'
      );
      assert.ok(facts(box).includes('path/a.txt'));
      assert.deepEqual(
        box
          .querySelectorAll('pre.jp-PtcTrace-diff')[0]
          .children.map(l => [l.className, l.textContent]),
        [
          ['jp-PtcTrace-diff-del', '-x\n'],
          ['jp-PtcTrace-diff-add', '+y\n']
        ]
      );
    }
  },
  other: {
    raw: {
      name: 'web_search',
      input: { query: 'q' },
      result_type: 'web_search_result',
      detail: { content: [{ url: 'u' }] }
    },
    shows: box => {
      const json = box
        .querySelectorAll('pre.jp-PtcTrace-json')
        .map(p => p.textContent);
      assert.deepEqual(json, [
        '{\n  "query": "q"\n}',
        '[\n  {\n    "url": "u"\n  }\n]'
      ]);
    }
  }
};

describe('every step kind of the table is handled', () => {
  test('STEP_VIEWS has a view for exactly the kinds of STEP_KIND_TABLE', () => {
    assert.deepEqual(
      Object.keys(STEP_VIEWS).sort(),
      Object.keys(STEP_KIND_TABLE).sort()
    );
    assert.deepEqual(Object.keys(EXAMPLES).sort(), [...STEP_KIND_NAMES].sort());
  });

  for (const kind of STEP_KIND_NAMES) {
    test(`a ${kind} step renders its own section`, () => {
      const s = step(EXAMPLES[kind].raw);
      assert.equal(s.kind, kind);
      const box = section(s);
      assert.ok(
        box.classList.contains(`jp-PtcTrace-step-${kind}`),
        box.className
      );
      assert.equal(
        box.classList.contains('jp-PtcTrace-scriptsection'),
        kind === 'python'
      );
      EXAMPLES[kind].shows(box);
      assert.notEqual(stepCode(s), '', 'what the step ran, as text');
      assert.notEqual(stepLabel(s), '');
    });
  }
});

describe('the sections of a saved trace', () => {
  const steps = parseTrace(stepsTrace()).steps;

  test('titles: Python numbered, the others by kind or tool name', () => {
    assert.deepEqual(stepTitles(steps), [
      'Script',
      'Bash',
      'Text editor',
      'Text editor',
      'future_tool'
    ]);
    const two = parseTrace({
      steps: [{ name: 'run_python' }, { name: 'code_execution' }]
    }).steps;
    assert.deepEqual(stepTitles(two), [
      'Script 1 of 2 (local)',
      'Script 2 of 2'
    ]);
  });

  test('a Python step past the cell limit: stopped, failed, streams shown', () => {
    const box = section(steps[0], 'Script', 0);
    assert.equal(box.dataset.status, 'timeout');
    assert.deepEqual(facts(box), [
      'calls0',
      'stoppedcell time limit (90 s) reached',
      'idsrvtoolu_py'
    ]);
    assert.equal(box.querySelectorAll('span.jp-PtcTrace-factfailed').length, 1);
    assert.equal(
      box.querySelector('div.jp-PtcTrace-stdout')?.textContent,
      'stdoutbegun\n'
    );
  });

  test('bash lists the files it left', () => {
    const box = section(steps[1]);
    assert.deepEqual(facts(box), ['exit code0', 'idsrvtoolu_sh']);
    assert.equal(
      box.querySelector('div.jp-PtcTrace-stepfiles')?.textContent,
      'files: file_png, file_csv'
    );
    assert.equal(
      box.querySelector('div.jp-PtcTrace-stderr'),
      null,
      'an empty stream is not shown'
    );
  });

  test('an editor error shows its code and message as a failed fact', () => {
    const box = section(steps[3]);
    assert.ok(
      facts(box).includes('errorfile_not_found: /tmp/nope does not exist')
    );
    assert.equal(box.querySelectorAll('span.jp-PtcTrace-factfailed').length, 1);
  });

  test('Python code is highlighted once, with the code itself', async () => {
    const { calls, highlight } = recorder();
    const done: Promise<void>[] = [];
    stepSection(steps[0], 'Script', 0, highlight, done);
    await Promise.all(done);
    assert.deepEqual(calls, ['import time\ntime.sleep(100)\n']);
  });
});

describe('stepState, as formatting.step_state says it', () => {
  const cases: [object, string][] = [
    [{ error_code: 'unavailable' }, 'unavailable'],
    [{ error_code: 'x', error_message: 'why' }, 'x: why'],
    [{ return_code: 1, timeout_s: 90 }, 'cell time limit (90 s) reached'],
    [{ return_code: 3 }, 'exit 3'],
    [{}, 'unfinished'],
    [
      { result_type: 'text_editor_code_execution_create_result', detail: {} },
      'file created'
    ],
    [
      { result_type: 'x_create_result', detail: { is_file_update: true } },
      'file updated'
    ],
    [
      {
        result_type: 'x_view_result',
        detail: { num_lines: 5, total_lines: 9 }
      },
      'viewed 5 of 9 lines'
    ],
    [{ result_type: 'x_view_result', detail: { num_lines: '5' } }, 'viewed'],
    [{ result_type: 'x_str_replace_result' }, 'replaced'],
    [{ result_type: 'brand_new_result' }, 'result brand_new_result']
  ];
  for (const [raw, state] of cases) {
    test(state, () => assert.equal(stepState(step(raw)), state));
  }
});

describe('stepCode', () => {
  test('a restart has no code', () => {
    assert.equal(stepCode(step({ input: { restart: true } })), '(restart)');
    assert.equal(
      stepCode(step({ name: 'bash_code_execution', input: { restart: true } })),
      '(restart)'
    );
  });

  test('an editor operation in one line', () => {
    const s = step({
      name: 'text_editor_code_execution',
      input: { command: 'view', path: '/f.py', view_range: [1, 20] }
    });
    assert.equal(stepCode(s), 'view /f.py [1,20]');
  });

  test('a version-1 script keeps its code', () => {
    assert.equal(stepCode(step({ code: 'x = 1' })), 'x = 1');
  });
});

describe('editorDiff', () => {
  test("the result's own lines, under a hunk header", () => {
    const s = parseTrace(stepsTrace()).steps[2];
    assert.deepEqual(editorDiff(s), [
      '@@ -3,1 +3,1 @@',
      '-  "debug": true',
      '+  "debug": false'
    ]);
  });

  test('else old_str and new_str, line by line', () => {
    const s = step({
      name: 'text_editor_code_execution',
      input: { command: 'str_replace', old_str: 'a\nb', new_str: 'c' }
    });
    assert.deepEqual(editorDiff(s), ['-a', '-b', '+c']);
  });
});

test('the failed step statuses, as formatting.step_failed counts them', () => {
  assert.deepEqual([...FAILED_STEP_STATUSES].sort(), [
    'error',
    'failed',
    'timeout'
  ]);
});

test('step statuses: the failed ones are marked, the others are not', () => {
  for (const [status, { failed }] of Object.entries(STEP_STATUS_TABLE)) {
    const box = section(
      step({ status, return_code: null, result_type: 'code_execution_result' })
    );
    assert.equal(box.dataset.status, status);
    assert.equal(
      box.querySelectorAll('span.jp-PtcTrace-factfailed').length,
      failed ? 1 : 0,
      status
    );
  }
});
