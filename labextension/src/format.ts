/** Pure formatting helpers: numbers, units and the PTC-vs-direct savings line. */
import { IComparison, ICost } from './types';

const INT = new Intl.NumberFormat('en-US');

export function formatInt(n: number): string {
  return INT.format(Math.round(n));
}

export function formatBytes(n: number): string {
  if (n < 1024) {
    return `${formatInt(n)} B`;
  }
  if (n < 1024 * 1024) {
    return `${(n / 1024).toFixed(1)} KB`;
  }
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** What stands in for text left out; the same marker as `ptc_jupyter.trace.clipping.clip_marker`. */
export function clipMarker(hiddenChars: number): string {
  return `… [+${formatInt(hiddenChars)} chars]`;
}

export function formatSeconds(s: number): string {
  if (s < 1) {
    return `${Math.round(s * 1000)} ms`;
  }
  return `${s.toFixed(s < 10 ? 2 : 1)} s`;
}

/** Dollars as `ptc_jupyter.pricing.format_usd`: `$0.0123` below $1, `$1,234.56` from $1 on. */
export function formatUsd(amount: number): string {
  if (amount >= 1) {
    return `$${amount.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  }
  return `$${amount.toFixed(4)}`;
}

/** An estimated cost as every view shows it (`formatting.format_cost`): `≈ $0.0123 (estimate)`. */
export function formatCost(cost: ICost): string {
  return `≈ ${formatUsd(cost.totalUsd)}${cost.estimate ? ' (estimate)' : ''}`;
}

/** Format a measure by the unit its key names (`_usd`, `_bytes`, `_s`, `_ms`), else as a count. */
export function formatMeasure(key: string, n: number): string {
  if (key.endsWith('_usd')) {
    return formatUsd(n);
  }
  if (key.endsWith('_bytes')) {
    return formatBytes(n);
  }
  if (key.endsWith('_s')) {
    return formatSeconds(n);
  }
  if (key.endsWith('_ms')) {
    return formatSeconds(n / 1000);
  }
  return formatInt(n);
}

/** Human label for a measure key: `context_bytes` -> `context`, `wall_s` -> `wall time`. */
export function measureLabel(key: string): string {
  const labels: { [key: string]: string } = {
    requests: 'requests',
    context_bytes: 'context',
    wall_s: 'wall time',
    input_tokens: 'input tokens',
    output_tokens: 'output tokens',
    cost_usd: 'cost (estimate)'
  };
  return (
    labels[key] ?? key.replace(/_(bytes|s|ms|usd)$/, '').replace(/_/g, ' ')
  );
}

export interface ISaving {
  key: string;
  label: string;
  ptc: string;
  direct: string;
  /** e.g. "−82%", or "3.1× faster" for time; empty when no base to compare to. */
  change: string;
  better: boolean;
}

/** One entry per measure both sides have, in a stable order (known keys first). */
export function savings(comparison: IComparison): ISaving[] {
  const order = [
    'requests',
    'context_bytes',
    'input_tokens',
    'output_tokens',
    'cost_usd',
    'wall_s'
  ];
  const keys = Object.keys(comparison.ptc).filter(k => k in comparison.direct);
  keys.sort((a, b) => {
    const ia = order.indexOf(a) < 0 ? order.length : order.indexOf(a);
    const ib = order.indexOf(b) < 0 ? order.length : order.indexOf(b);
    return ia - ib || a.localeCompare(b);
  });
  return keys.map(key => {
    const ptc = comparison.ptc[key];
    const direct = comparison.direct[key];
    let change = '';
    if (direct > 0) {
      if (key.endsWith('_s') || key.endsWith('_ms')) {
        change =
          ptc > 0
            ? `${(direct / ptc).toFixed(1)}× ${ptc <= direct ? 'faster' : 'slower'}`
            : '';
      } else {
        const pct = Math.round((100 * (ptc - direct)) / direct);
        change = `${pct <= 0 ? '−' : '+'}${Math.abs(pct)}%`;
      }
    }
    return {
      key,
      label: measureLabel(key),
      ptc: formatMeasure(key, ptc),
      direct: formatMeasure(key, direct),
      change,
      better: ptc <= direct
    };
  });
}

/** A value as short text: strings as they are, anything else as compact JSON. */
export function asText(value: unknown, pretty = false): string {
  if (typeof value === 'string') {
    return value;
  }
  try {
    const s = JSON.stringify(value, null, pretty ? 2 : undefined);
    return s === undefined ? String(value) : s;
  } catch {
    return String(value);
  }
}
