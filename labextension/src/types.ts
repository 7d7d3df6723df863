/**
 * The saved trace: what `ptc_jupyter.trace.Run.to_dict()` writes into the notebook.
 *
 * Every field is optional here because a notebook can hold a trace from an older or newer
 * version, or one edited by hand; `parseTrace` (parse.ts) turns untrusted JSON into this shape.
 *
 * No imports: node loads the built lib/types.js as it is, so the Python side can read the tables
 * below (`STEP_KIND_NAMES`, `STEP_KINDS`, `CALL_STATUS_TABLE`, `STEP_STATUS_TABLE`) and compare.
 */

/** MIME type of the trace payload; must equal `ptc_jupyter.constants.MIME_TYPE`. */
export const MIME_TYPE = 'application/vnd.ptc-jupyter.trace+json';

/** The newest trace schema this renderer knows (`ptc_jupyter.trace.TRACE_VERSION`). */
export const KNOWN_VERSION = 2;

export interface IToolCall {
  /** 1-based position in the run (calls a saved trace left out still count) */
  number: number;
  id: string;
  name: string;
  input: unknown;
  caller: string; // "direct" or a code-execution tool version
  scriptId: string | null;
  status: string; // a CallStatus, or one a newer version added
  output: string | null;
  isError: boolean;
  startedS: number | null;
  durationS: number | null;
  requestIndex: number | null;
}

/**
 * Every step kind this renderer knows and the server tools that make one: the one table of
 * them in TypeScript. `parse.ts` maps a step's tool name through it (any other name is 'other')
 * and `steps.ts` has one view per kind (`STEP_VIEWS`, typed so that a kind without one does
 * not compile; a unit test renders each). Mirrors `ptc_jupyter.trace.steps.STEP_KIND_TABLE`.
 */
export const STEP_KIND_TABLE = {
  python: { tools: ['code_execution', 'run_python'] }, // run_python: the local sandbox (--sandbox local)
  bash: { tools: ['bash_code_execution'] },
  editor: { tools: ['text_editor_code_execution'] },
  other: { tools: [] } // a server tool this renderer does not know (web search, whatever comes next)
} as const;

export type StepKind = keyof typeof STEP_KIND_TABLE;

/** The step kinds, in table order, for the Python side to compare with its `StepKind`. */
export const STEP_KIND_NAMES = Object.keys(STEP_KIND_TABLE) as StepKind[];

/** Server tool name -> step kind, from `STEP_KIND_TABLE` (`ptc_jupyter.trace.steps.STEP_KIND_TABLE`). */
export const STEP_KINDS: { readonly [tool: string]: StepKind } = (() => {
  const kinds: { [tool: string]: StepKind } = {};
  for (const kind of STEP_KIND_NAMES) {
    for (const tool of STEP_KIND_TABLE[kind].tools) {
      kinds[tool] = kind;
    }
  }
  return kinds;
})();

/** The kind of a step run by server tool `tool`; 'other' for any tool not in the table. */
export function stepKindOf(tool: string): StepKind {
  return Object.prototype.hasOwnProperty.call(STEP_KINDS, tool)
    ? STEP_KINDS[tool]
    : 'other';
}

/** One server-side step (`ptc_jupyter.trace.steps.Step`): a Python cell, a bash command, a text
 * editor operation, or a server tool this renderer does not know. */
export interface IStep {
  id: string;
  name: string;
  kind: StepKind;
  input: { [key: string]: unknown };
  status: string; // a StepStatus, or one a newer version added
  stdout: string | null;
  stderr: string | null;
  returnCode: number | null;
  errorCode: string | null;
  errorMessage: string | null;
  encrypted: boolean;
  fileIds: string[];
  resultType: string | null;
  detail: { [key: string]: unknown } | null;
  timeoutS: number | null;
  durationS: number | null;
}

/** A Python step (version 1 traces called them scripts). */
export type IScript = IStep;

/** A file the steps left in $OUTPUT_DIR (`ptc_jupyter.trace.files.OutputFile.to_dict`). */
export interface IFile {
  name: string;
  mediaType: string;
  sizeBytes: number | null;
  fileId: string | null;
  path: string | null;
  error: string | null;
  preview: string | null;
  /** base64 of an embedded image; null when the trace lists the file only */
  data: string | null;
}

/** One side of the PTC-vs-direct comparison: numbers keyed like `requests`, `wall_s`. */
export type IMeasures = { [key: string]: number };

export interface IComparison {
  ptc: IMeasures;
  direct: IMeasures;
}

/** A run's estimated cost (`ptc_jupyter.pricing.estimate`, `Run.cost`). */
export interface ICost {
  totalUsd: number;
  estimate: boolean;
  /** the parts, e.g. input_usd, output_usd, container_usd */
  parts: { [key: string]: number };
}

/** What a saved trace says of the calls it left out (`calls_table.omitted_summary`). */
export interface IOmittedCalls {
  count: number;
  failed: number;
  byStatus: { [status: string]: number };
  byName: { [name: string]: number };
  /** script (step) id -> calls its code made that were left out */
  byScript: { [id: string]: number };
}

export interface ITrace {
  version: number | null;
  prompt: string;
  model: string;
  backend: string;
  mode: string;
  status: string;
  error: string | null;
  text: string;
  /** every step, in order */
  steps: IStep[];
  /** the Python steps, in order (the calls table numbers them) */
  scripts: IScript[];
  /** the saved calls; a trace of a big run leaves some out (`callsOmitted`) */
  calls: IToolCall[];
  callsOmitted: IOmittedCalls | null;
  /** the marker for the calls left out */
  callsNote: string | null;
  files: IFile[];
  /** the marker for images the trace does not embed */
  filesNote: string | null;
  usage: { [key: string]: unknown };
  cost: ICost | null;
  requests: number | null;
  containerId: string | null;
  /** A turn of a conversation: "turn 2 of conv_…, continuing turn 1 (…)"; null outside one. */
  conversation: string | null;
  stopReason: string | null;
  notices: string[];
  contextBytes: number | null;
  wallS: number | null;
  /** Unix time the run started (traces saved before it was recorded have none). */
  startedAt: number | null;
  comparison: IComparison | null;
  /** One entry per API round trip (`exchanges`); null for traces saved before it existed. */
  wire: IWire | null;
  /** PTC and direct round trip by round trip (`comparison.<side>.wire`); null unless both. */
  wireComparison: IWireComparison | null;
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

/** Both sides' round trips of a comparison. */
export interface IWireComparison {
  ptc: IWireRow[];
  direct: IWireRow[];
}

/**
 * The PTC parts the wire marks (`ptc_jupyter.trace.exchanges.PARTS`, checked equal by
 * tests/test_exchanges.py): a saved mark names one by its key; its label is the fallback when a
 * mark has none. The CSS gives each its colour (`.jp-PtcTrace-wiremark[data-part=…]`).
 */
export const WIRE_PART_TABLE = {
  code_execution_tool: { label: 'the code-execution tool' },
  allowed_callers: { label: 'allowed_callers' },
  container: { label: 'container' },
  server_tool_use: { label: 'the script (server_tool_use)' },
  tool_use_from_script: { label: 'tool_use + caller: from the script' },
  tool_use_direct: { label: 'tool_use: from Claude' },
  tool_results_only: { label: 'only tool_results' },
  code_execution_tool_result: {
    label: "the script's result (code_execution_tool_result)"
  }
} as const;

export type WirePart = keyof typeof WIRE_PART_TABLE;

/** The label of a part: the table's, or the key itself for a part this renderer does not know. */
export function wirePartLabel(part: string): string {
  return Object.prototype.hasOwnProperty.call(WIRE_PART_TABLE, part)
    ? WIRE_PART_TABLE[part as WirePart].label
    : part;
}

/**
 * Every call status (`ptc_jupyter.trace.CallStatus`) and whether the calls table counts it as a
 * failure; the failed ones besides `error` are the reasons a call was refused or stopped. A status
 * not in the table (from a newer version) is not a failure unless the call says `is_error`.
 */
export const CALL_STATUS_TABLE = {
  pending: { failed: false }, // not started yet
  running: { failed: false },
  ok: { failed: false },
  error: { failed: true }, // the tool raised, or returned nothing usable
  denied: { failed: true }, // the user did not approve it
  timeout: { failed: true }, // out of time, or no approval in time
  rejected: { failed: true }, // the host's policy refused it
  cancelled: { failed: true } // cancelled by the user
} as const;

export type CallStatus = keyof typeof CALL_STATUS_TABLE;

/** Every step status (`ptc_jupyter.trace.steps.StepStatus`) and whether it is shown as a failure. */
export const STEP_STATUS_TABLE = {
  running: { failed: false },
  ok: { failed: false },
  failed: { failed: true }, // a non-zero exit code
  timeout: { failed: true }, // the cell time limit
  error: { failed: true } // the tool itself failed (an error code)
} as const;

export type StepStatus = keyof typeof STEP_STATUS_TABLE;

function failedOf(table: {
  [status: string]: { failed: boolean };
}): ReadonlySet<string> {
  return new Set(Object.keys(table).filter(status => table[status].failed));
}

/** Call statuses that count as failures in the table (besides `is_error`). */
export const FAILED_STATUSES = failedOf(CALL_STATUS_TABLE);

/** Step statuses shown as failures. */
export const FAILED_STEP_STATUSES = failedOf(STEP_STATUS_TABLE);

export function callFailed(call: IToolCall): boolean {
  return call.isError || FAILED_STATUSES.has(call.status);
}
