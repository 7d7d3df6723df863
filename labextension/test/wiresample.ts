/**
 * A real saved trace's wire (`ptc.compare` of two gathered calls on the offline emulator,
 * `Run.to_dict()`, trimmed to the fields the Wire view reads). A function: each test gets a copy.
 */
export function wireTrace(): { [key: string]: any } {
  return {
    version: 2,
    prompt:
      'Double 1 and 2.\n```python\nimport asyncio\nprint(await asyncio.gather(double({"x": 1}), double({"x": 2})))\n```\n',
    model: 'claude-opus-5-5',
    backend: 'offline-emulator',
    mode: 'ptc',
    status: 'completed',
    text: "['2', '4']",
    requests: 2,
    exchanges: [
      {
        index: 1,
        request: {
          model: 'claude-opus-5-5',
          max_tokens: 8192,
          tools: [
            {
              type: 'code_execution_20260521',
              name: 'code_execution'
            },
            {
              name: 'double',
              description: 'Twice x. Returns an integer.',
              input_schema: {
                additionalProperties: false,
                properties: {
                  x: {
                    title: 'X',
                    type: 'integer'
                  }
                },
                required: ['x'],
                type: 'object'
              },
              allowed_callers: ['code_execution_20260120'],
              cache_control: {
                type: 'ephemeral'
              }
            }
          ],
          messages: [
            {
              role: 'user',
              content: [
                {
                  type: 'text',
                  text: 'Double 1 and 2.\n```python\nimport asyncio\nprint(await asyncio.gather(double({"x": 1}), double({"x": 2})))\n```\n',
                  cache_control: {
                    type: 'ephemeral'
                  }
                }
              ]
            }
          ]
        },
        earlier_messages: 0,
        tools_as_in: null,
        response: {
          id: 'msg_emuba402133303a0a633c2a37',
          container: {
            id: 'container_emu1628fafd1ce7645068b27e',
            expires_at: '2026-12-07T19:49:57Z'
          },
          content: [
            {
              text: 'Running the script from your prompt in the offline emulator.',
              type: 'text'
            },
            {
              id: 'srvtoolu_emua1a896385ecfbf34c63819',
              input: {
                code: 'import asyncio\nprint(await asyncio.gather(double({"x": 1}), double({"x": 2})))\n'
              },
              name: 'code_execution',
              type: 'server_tool_use'
            },
            {
              id: 'toolu_b44e671ed1f637af79c1d097',
              caller: {
                tool_id: 'srvtoolu_emua1a896385ecfbf34c63819',
                type: 'code_execution_20260120'
              },
              input: {
                x: 1
              },
              name: 'double',
              type: 'tool_use'
            },
            {
              id: 'toolu_72b96b0c545bfda55dfd2abb',
              caller: {
                tool_id: 'srvtoolu_emua1a896385ecfbf34c63819',
                type: 'code_execution_20260120'
              },
              input: {
                x: 2
              },
              name: 'double',
              type: 'tool_use'
            }
          ],
          model: 'claude-opus-5-5',
          role: 'assistant',
          stop_details: null,
          stop_reason: 'tool_use',
          stop_sequence: null,
          type: 'message',
          usage: {
            cache_creation: {
              ephemeral_1h_input_tokens: 0,
              ephemeral_5m_input_tokens: 0
            },
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
            input_tokens: 126,
            output_tokens: 74,
            server_tool_use: {
              code_execution_requests: 1
            }
          },
          emulator: {
            usage_estimated: true
          }
        },
        error: null,
        streamed: true,
        request_bytes: 612,
        response_bytes: 1188,
        context_bytes: 0,
        sent: 'the prompt + 2 tool definitions',
        received: 'text, script, 2 × tool_use from the script',
        stop_reason: 'tool_use',
        input_tokens: 126,
        output_tokens: 74,
        marks: [
          {
            path: '/request/tools/0',
            part: 'code_execution_tool',
            label: 'the code-execution tool'
          },
          {
            path: '/request/tools/1/allowed_callers',
            part: 'allowed_callers',
            label: 'allowed_callers'
          },
          {
            path: '/response/content/1',
            part: 'server_tool_use',
            label: 'the script (server_tool_use)'
          },
          {
            path: '/response/content/2',
            part: 'tool_use_from_script',
            label: 'tool_use + caller: from the script'
          },
          {
            path: '/response/content/3',
            part: 'tool_use_from_script',
            label: 'tool_use + caller: from the script'
          },
          {
            path: '/response/container',
            part: 'container',
            label: 'container'
          }
        ]
      },
      {
        index: 2,
        request: {
          model: 'claude-opus-5-5',
          max_tokens: 8192,
          container: 'container_emu1628fafd1ce7645068b27e',
          messages: [
            {
              role: 'assistant',
              content: [
                {
                  text: 'Running the script from your prompt in the offline emulator.',
                  type: 'text'
                },
                {
                  id: 'srvtoolu_emua1a896385ecfbf34c63819',
                  input: {
                    code: 'import asyncio\nprint(await asyncio.gather(double({"x": 1}), double({"x": 2})))\n'
                  },
                  name: 'code_execution',
                  type: 'server_tool_use',
                  cache_control: {
                    type: 'ephemeral'
                  }
                },
                {
                  id: 'toolu_b44e671ed1f637af79c1d097',
                  caller: {
                    tool_id: 'srvtoolu_emua1a896385ecfbf34c63819',
                    type: 'code_execution_20260120'
                  },
                  input: {
                    x: 1
                  },
                  name: 'double',
                  type: 'tool_use'
                },
                {
                  id: 'toolu_72b96b0c545bfda55dfd2abb',
                  caller: {
                    tool_id: 'srvtoolu_emua1a896385ecfbf34c63819',
                    type: 'code_execution_20260120'
                  },
                  input: {
                    x: 2
                  },
                  name: 'double',
                  type: 'tool_use'
                }
              ]
            },
            {
              role: 'user',
              content: [
                {
                  type: 'tool_result',
                  tool_use_id: 'toolu_b44e671ed1f637af79c1d097',
                  content: '2'
                },
                {
                  type: 'tool_result',
                  tool_use_id: 'toolu_72b96b0c545bfda55dfd2abb',
                  content: '4'
                }
              ]
            }
          ]
        },
        earlier_messages: 1,
        tools_as_in: 1,
        response: {
          id: 'msg_emufc12775a61f304ff700fb6',
          container: {
            id: 'container_emu1628fafd1ce7645068b27e',
            expires_at: '2026-12-07T19:49:58Z'
          },
          content: [
            {
              content: {
                content: [],
                return_code: 0,
                stderr: '',
                stdout: "['2', '4']\n",
                type: 'code_execution_result'
              },
              tool_use_id: 'srvtoolu_emua1a896385ecfbf34c63819',
              type: 'code_execution_tool_result'
            },
            {
              text: "['2', '4']",
              type: 'text'
            }
          ],
          model: 'claude-opus-5-5',
          role: 'assistant',
          stop_details: null,
          stop_reason: 'end_turn',
          stop_sequence: null,
          type: 'message',
          usage: {
            cache_creation: {
              ephemeral_1h_input_tokens: 0,
              ephemeral_5m_input_tokens: 0
            },
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
            input_tokens: 210,
            output_tokens: 10
          },
          emulator: {
            usage_estimated: true
          }
        },
        error: null,
        streamed: true,
        request_bytes: 1574,
        response_bytes: 727,
        context_bytes: 11,
        sent: '2 tool_results',
        received: 'script result, text',
        stop_reason: 'end_turn',
        input_tokens: 210,
        output_tokens: 10,
        marks: [
          {
            path: '/request/container',
            part: 'container',
            label: 'container'
          },
          {
            path: '/request/messages/1',
            part: 'tool_results_only',
            label: 'only tool_results'
          },
          {
            path: '/response/content/0',
            part: 'code_execution_tool_result',
            label: "the script's result (code_execution_tool_result)"
          },
          {
            path: '/response/container',
            part: 'container',
            label: 'container'
          }
        ]
      }
    ],
    wire_legend: {
      code_execution_tool:
        'the code-execution tool: Claude may write a script and run it in a container',
      allowed_callers:
        'allowed_callers: who may call this tool: Claude directly (direct), or a script (code_execution_…)',
      container:
        "container: where the script's Python keeps running; sent back with every request",
      server_tool_use:
        'the script (server_tool_use): the script Claude wrote; it runs in the container, not here',
      tool_use_from_script:
        "tool_use + caller: from the script: a call the script made; its result goes back to the script, not into Claude's context",
      tool_results_only:
        "only tool_results: a user message of only tool_result blocks: the host's answers",
      code_execution_tool_result:
        "the script's result (code_execution_tool_result): what the script printed; this is what enters Claude's context"
    },
    comparison: {
      ptc: {
        requests: 2,
        calls: 2,
        context_bytes: 11,
        input_tokens: 336,
        output_tokens: 84,
        wall_s: 0.733,
        cost_usd: 0.003034,
        wire: [
          {
            index: 1,
            sent: 'the prompt + 2 tool definitions',
            received: 'text, script, 2 × tool_use from the script',
            stop_reason: 'tool_use',
            context_bytes: 0,
            request_bytes: 612
          },
          {
            index: 2,
            sent: '2 tool_results',
            received: 'script result, text',
            stop_reason: 'end_turn',
            context_bytes: 11,
            request_bytes: 1574
          }
        ]
      },
      direct: {
        requests: 3,
        calls: 2,
        context_bytes: 2,
        input_tokens: 608,
        output_tokens: 111,
        wall_s: 0.054,
        cost_usd: 0.004652,
        wire: [
          {
            index: 1,
            sent: 'the prompt + 1 tool definition',
            received: 'text, tool_use',
            stop_reason: 'tool_use',
            context_bytes: 0,
            request_bytes: 536
          },
          {
            index: 2,
            sent: '1 tool_result',
            received: 'tool_use',
            stop_reason: 'tool_use',
            context_bytes: 1,
            request_bytes: 980
          },
          {
            index: 3,
            sent: '1 tool_result',
            received: 'text',
            stop_reason: 'end_turn',
            context_bytes: 1,
            request_bytes: 1279
          }
        ]
      }
    }
  };
}
