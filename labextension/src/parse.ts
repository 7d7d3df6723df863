/**
 * Turn the untrusted JSON of a saved trace into an `ITrace`.
 *
 * A notebook may come from anywhere (git, CI, a colleague), so nothing in it is assumed:
 * wrong types become defaults and the renderer never throws on a malformed trace.
 */
import {
  IComparison,
  IMeasures,
  IScript,
  ITrace,
  IToolCall
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

function parseCall(raw: unknown, index: number, shared: Dict): IToolCall {
  // a compact trace states repeated fields once, in `call_defaults`
  const d: Dict = { ...shared, ...(isDict(raw) ? raw : {}) };
  return {
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

function parseScript(raw: unknown, index: number): IScript {
  const d = isDict(raw) ? raw : {};
  return {
    id: str(d.id, `script-${index + 1}`),
    code: str(d.code),
    stdout: optStr(d.stdout),
    stderr: optStr(d.stderr),
    returnCode: num(d.return_code),
    errorCode: optStr(d.error_code),
    encrypted: d.encrypted === true
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

function parseComparison(raw: unknown): IComparison | null {
  if (!isDict(raw) || !isDict(raw.ptc) || !isDict(raw.direct)) {
    return null;
  }
  return { ptc: parseMeasures(raw.ptc), direct: parseMeasures(raw.direct) };
}

export function parseTrace(data: unknown): ITrace {
  const d = isDict(data) ? data : {};
  return {
    version: num(d.version),
    prompt: str(d.prompt),
    model: str(d.model),
    backend: str(d.backend),
    mode: str(d.mode, 'ptc'),
    status: str(d.status, 'completed'),
    error: optStr(d.error),
    text: str(d.text),
    scripts: list(d.scripts).map(parseScript),
    calls: list(d.calls).map((c, i) => parseCall(c, i, isDict(d.call_defaults) ? d.call_defaults : {})),
    usage: isDict(d.usage) ? d.usage : {},
    requests: num(d.requests),
    containerId: optStr(d.container_id),
    stopReason: optStr(d.stop_reason),
    notices: list(d.notices).map(n => str(n)),
    contextBytes: num(d.context_bytes),
    wallS: num(d.wall_s),
    startedAt: num(d.started_at),
    comparison: parseComparison(d.comparison)
  };
}
