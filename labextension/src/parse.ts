/**
 * Turn the untrusted JSON of a saved trace into an `ITrace`.
 *
 * A notebook may come from anywhere (git, CI, a colleague), so nothing in it is assumed:
 * wrong types become defaults and the renderer never throws on a malformed trace.
 */
import {
  IComparison,
  ICost,
  IFile,
  IMeasures,
  IOmittedCalls,
  IStep,
  ITrace,
  IToolCall,
  IExchange,
  IWire,
  IWireComparison,
  IWireMark,
  IWireRow,
  stepKindOf,
  wirePartLabel
} from './types';

type Dict = { [key: string]: unknown };

function isDict(value: unknown): value is Dict {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown, fallback = ''): string {
  if (typeof value === 'string') {
    return value;
  }
  if (value === null || value === undefined) {
    return fallback;
  }
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

function optStr(value: unknown): string | null {
  return value === null || value === undefined ? null : str(value);
}

function num(value: unknown): number | null {
  return typeof value === 'number' && isFinite(value) ? value : null;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function parseCall(
  raw: unknown,
  index: number,
  shared: Dict,
  number: number
): IToolCall {
  // a compact trace states repeated fields once, in `call_defaults`
  const d: Dict = { ...shared, ...(isDict(raw) ? raw : {}) };
  return {
    number,
    id: str(d.id, `call-${index + 1}`),
    name: str(d.name, '?'),
    input: d.input ?? {},
    caller: str(d.caller, 'direct'),
    scriptId: optStr(d.script_id),
    status: str(d.status, 'ok'),
    output: optStr(d.output),
    isError: d.is_error === true,
    startedS: num(d.started_s),
    durationS: num(d.duration_s),
    requestIndex: num(d.request_index)
  };
}

/** The status of a step saved without one (version 1): as `Step.status` derives it. */
function deriveStatus(d: Dict): string {
  if (d.error_code !== null && d.error_code !== undefined) {
    return 'error';
  }
  const code = num(d.return_code);
  if (code !== null) {
    return code === 0 ? 'ok' : num(d.timeout_s) !== null ? 'timeout' : 'failed';
  }
  return d.result_type !== null && d.result_type !== undefined
    ? 'ok'
    : 'running';
}

/** A saved step; a version-1 script (`code`, no `name`/`input`) is a Python step. */
function parseStep(raw: unknown, index: number): IStep {
  const d = isDict(raw) ? raw : {};
  const name = str(d.name, 'code_execution');
  let input: Dict = isDict(d.input) ? d.input : {};
  if (!isDict(d.input) && d.code !== undefined) {
    input = { code: str(d.code) };
  }
  return {
    id: str(d.id, `step-${index + 1}`),
    name,
    kind: stepKindOf(name),
    input,
    status: typeof d.status === 'string' ? d.status : deriveStatus(d),
    stdout: optStr(d.stdout),
    stderr: optStr(d.stderr),
    returnCode: num(d.return_code),
    errorCode: optStr(d.error_code),
    errorMessage: optStr(d.error_message),
    encrypted: d.encrypted === true,
    fileIds: list(d.file_ids).map(f => str(f)),
    resultType: optStr(d.result_type),
    detail: isDict(d.detail) ? d.detail : null,
    timeoutS: num(d.timeout_s),
    durationS: num(d.duration_s)
  };
}

function parseFile(raw: unknown): IFile {
  const d = isDict(raw) ? raw : {};
  return {
    name: str(d.name, str(d.file_id, 'file')),
    mediaType: str(d.media_type, 'application/octet-stream'),
    sizeBytes: num(d.size_bytes),
    fileId: optStr(d.file_id),
    path: optStr(d.path),
    error: optStr(d.error),
    preview: optStr(d.preview),
    data: typeof d.data === 'string' ? d.data : null
  };
}

function parseMeasures(raw: unknown): IMeasures {
  const out: IMeasures = {};
  if (isDict(raw)) {
    for (const [key, value] of Object.entries(raw)) {
      const n = num(value);
      if (n !== null) {
        out[key] = n;
      }
    }
  }
  return out;
}

/** The comparison; a side without `cost_usd` takes it from `comparison_cost_usd` (derived when saved). */
function parseComparison(raw: unknown, costs: unknown): IComparison | null {
  if (!isDict(raw) || !isDict(raw.ptc) || !isDict(raw.direct)) {
    return null;
  }
  const comparison = {
    ptc: parseMeasures(raw.ptc),
    direct: parseMeasures(raw.direct)
  };
  const derived = parseMeasures(costs);
  for (const side of ['ptc', 'direct'] as const) {
    if (!('cost_usd' in comparison[side]) && side in derived) {
      comparison[side].cost_usd = derived[side];
    }
  }
  return comparison;
}

function parseCost(raw: unknown): ICost | null {
  if (!isDict(raw) || num(raw.total_usd) === null) {
    return null;
  }
  const parts = parseMeasures(raw);
  delete parts.total_usd;
  delete parts.container_s;
  return {
    totalUsd: num(raw.total_usd) as number,
    estimate: raw.estimate !== false,
    parts
  };
}

function count(value: unknown): number {
  const n = num(value);
  return n !== null && n > 0 ? Math.floor(n) : 0;
}

function parseOmitted(raw: unknown): IOmittedCalls | null {
  if (!isDict(raw) || count(raw.count) === 0) {
    return null;
  }
  return {
    count: count(raw.count),
    failed: count(raw.failed),
    byStatus: parseMeasures(raw.by_status),
    byName: parseMeasures(raw.by_name),
    byScript: parseMeasures(raw.by_script)
  };
}

/**
 * The run numbers of `count` saved calls: each `[position, hidden]` gap of `calls_omitted`
 * says `hidden` calls were left out before saved call `position` (as `calls_table.call_numbers`).
 */
export function callNumbers(count: number, omitted: unknown): number[] {
  const hiddenAt = new Map<number, number>();
  for (const gap of list(isDict(omitted) ? omitted.gaps : [])) {
    if (
      Array.isArray(gap) &&
      gap.length === 2 &&
      gap.every(v => Number.isInteger(v) && v >= 0)
    ) {
      hiddenAt.set(gap[0], (hiddenAt.get(gap[0]) ?? 0) + gap[1]);
    }
  }
  const numbers: number[] = [];
  let skipped = 0;
  for (let position = 0; position < count; position++) {
    skipped += hiddenAt.get(position) ?? 0;
    numbers.push(position + 1 + skipped);
  }
  return numbers;
}

function parseCalls(d: Dict): IToolCall[] {
  const raw = list(d.calls);
  const numbers = callNumbers(raw.length, d.calls_omitted);
  const shared = isDict(d.call_defaults) ? d.call_defaults : {};
  return raw.map((c, i) => parseCall(c, i, shared, numbers[i]));
}

export function parseTrace(data: unknown): ITrace {
  const d = isDict(data) ? data : {};
  // version 1 saved the Python steps only, as `scripts`
  const steps = list(Array.isArray(d.steps) ? d.steps : d.scripts).map(
    parseStep
  );
  return {
    version: num(d.version),
    prompt: str(d.prompt),
    model: str(d.model),
    backend: str(d.backend),
    mode: str(d.mode, 'ptc'),
    status: str(d.status, 'completed'),
    error: optStr(d.error),
    text: str(d.text),
    steps,
    scripts: steps.filter(s => s.kind === 'python'),
    files: list(d.files).map(parseFile),
    filesNote: optStr(d.files_note),
    calls: parseCalls(d),
    callsOmitted: parseOmitted(d.calls_omitted),
    callsNote: optStr(d.calls_note),
    usage: isDict(d.usage) ? d.usage : {},
    cost: parseCost(d.cost),
    requests: num(d.requests),
    containerId: optStr(d.container_id),
    conversation: conversationText(d.conversation),
    stopReason: optStr(d.stop_reason),
    notices: list(d.notices).map(n => str(n)),
    contextBytes: num(d.context_bytes),
    wallS: num(d.wall_s),
    startedAt: num(d.started_at),
    comparison: parseComparison(d.comparison, d.comparison_cost_usd),
    wire: parseWire(d),
    wireComparison: parseWireComparison(d.comparison)
  };
}

/** `turn 2 of conv_1a2b, continuing turn 1 ("Which region…")`, as the Python renderer writes it. */
function conversationText(value: unknown): string | null {
  if (value === null || typeof value !== 'object') {
    return null;
  }
  const c = value as Record<string, unknown>;
  let text = `turn ${String(c.turn)} of ${String(c.id)}`;
  const earlier = c.continues;
  if (earlier !== null && typeof earlier === 'object') {
    const e = earlier as Record<string, unknown>;
    text += `, continuing turn ${String(e.turn)} (${JSON.stringify(String(e.prompt ?? ''))})`;
  }
  return text;
}

// -- the wire (`exchanges`; wire.ts shows it) ------------------------------------------------

function numOr(value: unknown, fallback: number | null): number | null {
  return typeof value === 'number' && isFinite(value) ? value : fallback;
}

function strOr(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}

function parseMark(raw: unknown): IWireMark | null {
  if (!isDict(raw) || typeof raw.path !== 'string') {
    return null;
  }
  const part = strOr(raw.part, '');
  return { path: raw.path, part, label: strOr(raw.label, wirePartLabel(part)) };
}

export function parseExchange(raw: unknown, position: number): IExchange {
  const d: Dict = isDict(raw) ? raw : {};
  return {
    index: numOr(d.index, position + 1) as number,
    sent: strOr(d.sent, ''),
    received: strOr(d.received, ''),
    stopReason: typeof d.stop_reason === 'string' ? d.stop_reason : null,
    error: typeof d.error === 'string' ? d.error : null,
    streamed: d.streamed === true,
    requestBytes: numOr(d.request_bytes, 0) as number,
    responseBytes: numOr(d.response_bytes, 0) as number,
    contextBytes: numOr(d.context_bytes, 0) as number,
    inputTokens: numOr(d.input_tokens, null),
    outputTokens: numOr(d.output_tokens, null),
    earlierMessages: numOr(d.earlier_messages, 0) as number,
    toolsAsIn: numOr(d.tools_as_in, null),
    request: d.request ?? null,
    response: d.response ?? null,
    marks: (Array.isArray(d.marks) ? d.marks : [])
      .map(parseMark)
      .filter((m): m is IWireMark => m !== null)
  };
}

/** The wire of a saved trace; null when it has none (traces saved before it existed). */
export function parseWire(trace: unknown): IWire | null {
  if (!isDict(trace) || !Array.isArray(trace.exchanges)) {
    return null;
  }
  const exchanges = trace.exchanges.map(parseExchange);
  if (!exchanges.length) {
    return null;
  }
  const legend = isDict(trace.wire_legend)
    ? Object.entries(trace.wire_legend).map(([k, v]): [string, string] => [
        k,
        strOr(v, k)
      ])
    : [];
  return {
    exchanges,
    omitted: numOr(trace.exchanges_omitted, 0) as number,
    legend
  };
}

/** Both sides' round trips of a comparison; null unless both have them. */
export function parseWireComparison(
  comparison: unknown
): IWireComparison | null {
  if (!isDict(comparison)) {
    return null;
  }
  const side = (raw: unknown): IWireRow[] =>
    (isDict(raw) && Array.isArray(raw.wire) ? raw.wire : [])
      .filter(isDict)
      .map((r, i) => ({
        index: numOr(r.index, i + 1) as number,
        sent: strOr(r.sent, ''),
        received: strOr(r.received, ''),
        stopReason: typeof r.stop_reason === 'string' ? r.stop_reason : null,
        contextBytes: numOr(r.context_bytes, 0) as number
      }));
  const ptc = side(comparison.ptc);
  const direct = side(comparison.direct);
  return ptc.length && direct.length ? { ptc, direct } : null;
}
