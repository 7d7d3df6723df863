/**
 * The saved trace: what `ptc_jupyter.trace.Run.to_dict()` writes into the notebook.
 *
 * Every field is optional here because a notebook can hold a trace from an older or newer
 * version, or one edited by hand; `parseTrace` (parse.ts) turns untrusted JSON into this shape.
 */

/** MIME type of the trace payload; must equal `ptc_jupyter.mime.MIME_TYPE`. */
export const MIME_TYPE = 'application/vnd.ptc-jupyter.trace+json';

/** The newest trace schema this renderer knows (`ptc_jupyter.trace.TRACE_VERSION`). */
export const KNOWN_VERSION = 1;

export interface IToolCall {
  id: string;
  name: string;
  input: unknown;
  caller: string; // "direct" or a code-execution tool version
  scriptId: string | null;
  status: string; // pending | running | ok | error | denied | timeout | rejected | cancelled
  output: string | null;
  isError: boolean;
  startedS: number | null;
  durationS: number | null;
  requestIndex: number | null;
}

export interface IScript {
  id: string;
  code: string;
  stdout: string | null;
  stderr: string | null;
  returnCode: number | null;
  errorCode: string | null;
  encrypted: boolean;
}

/** One side of the PTC-vs-direct comparison: numbers keyed like `requests`, `wall_s`. */
export type IMeasures = { [key: string]: number };

export interface IComparison {
  ptc: IMeasures;
  direct: IMeasures;
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
  scripts: IScript[];
  calls: IToolCall[];
  usage: { [key: string]: unknown };
  requests: number | null;
  containerId: string | null;
  stopReason: string | null;
  notices: string[];
  contextBytes: number | null;
  wallS: number | null;
  /** Unix time the run started (traces saved before it was recorded have none). */
  startedAt: number | null;
  comparison: IComparison | null;
}

/** Call statuses that count as failures in the table (besides `is_error`). */
export const FAILED_STATUSES = new Set(['error', 'denied', 'timeout', 'rejected', 'cancelled']);

export function callFailed(call: IToolCall): boolean {
  return call.isError || FAILED_STATUSES.has(call.status);
}
