/**
 * Saved traces as `ptc_jupyter.trace.Run.to_dict()` writes them (the shapes of
 * tests/trace_samples.py: `portfolio_run`, `steps_run`), plus what older, newer and broken
 * notebooks may hold. Functions, so every test gets its own copy.
 */

type Json = { [key: string]: any };

export const PORTFOLIO_CODE =
  'import asyncio, json\n\nasync def main():\n    names = ["A", "B", "C"]\n' +
  '    prices = await asyncio.gather(*[get_prices({"portfolio": n}) for n in names])\n';

/** One script, four calls in the compact form (one failed), usage, cost and a comparison. */
export function portfolioTrace(): Json {
  return {
    version: 2,
    prompt: 'Which of my three portfolios has the best Sharpe ratio?',
    model: 'claude-sonnet-4-5',
    backend: 'offline-emulator',
    mode: 'ptc',
    status: 'completed',
    error: null,
    text: 'Portfolio B has the best Sharpe ratio (1.42).',
    steps: [
      {
        id: 'srvtoolu_01ABC',
        name: 'code_execution',
        input: { code: PORTFOLIO_CODE },
        status: 'ok',
        stdout: 'A 0.8\nB 1.42\nC -0.3\n',
        stderr: 'warning: C has 2 missing days\n',
        return_code: 0
      }
    ],
    call_defaults: {
      caller: 'code_execution_20260120',
      script_id: 'srvtoolu_01ABC',
      status: 'ok',
      is_error: false,
      request_index: 1,
      name: 'get_prices'
    },
    calls: [
      {
        id: 'toolu_00',
        input: { portfolio: 'A' },
        output: '{"p": 1}',
        started_s: 0.05,
        duration_s: 0.12
      },
      {
        id: 'toolu_01',
        input: { portfolio: 'B' },
        output: '{"p": 2}',
        started_s: 0.06,
        duration_s: 0.14
      },
      {
        id: 'toolu_02',
        input: { portfolio: 'C' },
        output: '{"p": 3}',
        started_s: 0.07,
        duration_s: 0.16
      },
      {
        id: 'toolu_04',
        input: { portfolio: 3 },
        status: 'error',
        output: 'Error: portfolio must be a string, got 3',
        is_error: true,
        started_s: 0.2,
        duration_s: 0.01
      }
    ],
    usage: {
      input_tokens: 1834,
      output_tokens: 412,
      cache_read_input_tokens: 0
    },
    cost: {
      total_usd: 0.011688,
      input_usd: 0.005502,
      output_usd: 0.00618,
      container_usd: 6e-6,
      estimate: true,
      model_priced_as: 'claude-sonnet-4-5',
      container_s: 0.41
    },
    requests: 2,
    container_id: 'container_011CZkq7Hs9',
    stop_reason: 'end_turn',
    notices: ['offline emulator: no API key used'],
    context_bytes: 310,
    wall_s: 0.41,
    started_at: 1796671251.69,
    comparison: {
      ptc: { requests: 2, context_bytes: 310, wall_s: 0.4 },
      direct: { requests: 11, context_bytes: 4200, wall_s: 3.3 }
    },
    comparison_cost_usd: { ptc: 0.011688, direct: null },
    files: []
  };
}

/** Every kind of step: Python past the cell limit, bash, an editor str_replace and a failed
 * view, and a server tool this version does not know. */
export function stepsTrace(): Json {
  return {
    version: 2,
    prompt: 'Plot the scores and fix the config',
    model: 'claude-sonnet-4-5',
    status: 'completed',
    text: 'Done: plot.png and summary.csv.',
    steps: [
      {
        id: 'srvtoolu_py',
        name: 'code_execution',
        input: { code: 'import time\ntime.sleep(100)\n' },
        status: 'timeout',
        stdout: 'begun\n',
        stderr: 'detection_timeout: this cell ran for more than 90 seconds\n',
        return_code: 1,
        result_type: 'code_execution_result',
        timeout_s: 90.0
      },
      {
        id: 'srvtoolu_sh',
        name: 'bash_code_execution',
        input: { command: 'ls -la $OUTPUT_DIR' },
        status: 'ok',
        stdout: 'plot.png\nsummary.csv\n',
        stderr: '',
        return_code: 0,
        file_ids: ['file_png', 'file_csv'],
        result_type: 'bash_code_execution_result'
      },
      {
        id: 'srvtoolu_ed',
        name: 'text_editor_code_execution',
        input: {
          command: 'str_replace',
          path: '/tmp/config.json',
          old_str: '"debug": true',
          new_str: '"debug": false'
        },
        status: 'ok',
        result_type: 'text_editor_code_execution_str_replace_result',
        detail: {
          old_start: 3,
          old_lines: 1,
          new_start: 3,
          new_lines: 1,
          lines: ['-  "debug": true', '+  "debug": false']
        }
      },
      {
        id: 'srvtoolu_nf',
        name: 'text_editor_code_execution',
        input: { command: 'view', path: '/tmp/nope' },
        status: 'error',
        error_code: 'file_not_found',
        error_message: '/tmp/nope does not exist',
        result_type: 'text_editor_code_execution_tool_result_error'
      },
      {
        id: 'srvtoolu_fx',
        name: 'future_tool',
        input: { query: 'x' },
        status: 'ok',
        result_type: 'future_result',
        detail: { content: { type: 'future_result', answer: 42 } }
      }
    ],
    call_defaults: {},
    calls: [],
    requests: 2,
    container_id: 'container_steps',
    wall_s: 1.5,
    files: [
      {
        name: 'summary.csv',
        media_type: 'text/csv',
        size_bytes: 25,
        file_id: 'file_csv',
        path: null,
        preview: 'name,score\nA,0.8\nB,1.42\n'
      }
    ]
  };
}

/** A trace from a later version: unknown top-level, step and call fields, an unknown step
 * kind, an unknown call status and a run status this version has no badge for. */
export function newerTrace(): Json {
  const trace = portfolioTrace();
  trace.version = 7;
  trace.status = 'paused-for-review';
  trace.reasoning = { summary: 'a field added later', tokens: 120 };
  trace.steps.push({
    id: 'srvtoolu_web',
    name: 'web_fetch',
    input: { url: 'https://example.com' },
    status: 'ok',
    result_type: 'web_fetch_result',
    detail: { content: { title: 'Example', bytes: 1256 } },
    cache: { hit: true }
  });
  trace.steps[0].provenance = 'model';
  trace.calls.push({
    id: 'toolu_05',
    input: { portfolio: 'D' },
    status: 'deferred',
    output: null,
    started_s: 0.25,
    duration_s: 0.02,
    attempt: 2
  });
  return trace;
}
