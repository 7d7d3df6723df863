/** format.ts: numbers and units as every view writes them (`ptc_jupyter.formatting`, `pricing`). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  asText,
  clipMarker,
  formatBytes,
  formatCost,
  formatInt,
  formatMeasure,
  formatSeconds,
  formatUsd,
  measureLabel,
  savings
} from '../src/format';

test('formatInt rounds and groups thousands', () => {
  assert.equal(formatInt(0), '0');
  assert.equal(formatInt(1234567.6), '1,234,568');
});

test('formatBytes picks the unit at 1 KiB and 1 MiB', () => {
  assert.equal(formatBytes(1023), '1,023 B');
  assert.equal(formatBytes(1024), '1.0 KB');
  assert.equal(formatBytes(1024 * 1024 - 1), '1024.0 KB');
  assert.equal(formatBytes(5 * 1024 * 1024), '5.0 MB');
});

test('formatSeconds: ms below 1 s, two decimals below 10 s, then one', () => {
  assert.equal(formatSeconds(0.0004), '0 ms');
  assert.equal(formatSeconds(0.25), '250 ms');
  assert.equal(formatSeconds(1), '1.00 s');
  assert.equal(formatSeconds(9.994), '9.99 s');
  assert.equal(formatSeconds(12.34), '12.3 s');
});

test('formatUsd as pricing.format_usd: 4 decimals below $1, grouped cents from $1', () => {
  assert.equal(formatUsd(0.011688), '$0.0117');
  assert.equal(formatUsd(0), '$0.0000');
  assert.equal(formatUsd(1), '$1.00');
  assert.equal(formatUsd(1234.567), '$1,234.57');
});

test('formatCost marks estimates', () => {
  assert.equal(
    formatCost({ totalUsd: 0.5, estimate: true, parts: {} }),
    '≈ $0.5000 (estimate)'
  );
  assert.equal(
    formatCost({ totalUsd: 2, estimate: false, parts: {} }),
    '≈ $2.00'
  );
});

test('clipMarker is formatting.clip_marker', () => {
  assert.equal(clipMarker(12345), '… [+12,345 chars]');
});

test('formatMeasure reads the unit from the key', () => {
  assert.equal(formatMeasure('cost_usd', 0.5), '$0.5000');
  assert.equal(formatMeasure('context_bytes', 2048), '2.0 KB');
  assert.equal(formatMeasure('wall_s', 3.3), '3.30 s');
  assert.equal(formatMeasure('latency_ms', 1500), '1.50 s');
  assert.equal(formatMeasure('requests', 11), '11');
});

test('measureLabel: known keys named, others without their unit', () => {
  assert.equal(measureLabel('context_bytes'), 'context');
  assert.equal(measureLabel('wall_s'), 'wall time');
  assert.equal(measureLabel('cost_usd'), 'cost (estimate)');
  assert.equal(measureLabel('peak_memory_bytes'), 'peak memory');
  assert.equal(measureLabel('cache_hits'), 'cache hits');
});

describe('savings', () => {
  const rows = savings({
    ptc: { wall_s: 0.4, zeta: 1, requests: 2, context_bytes: 310, ptc_only: 1 },
    direct: {
      context_bytes: 4200,
      requests: 11,
      wall_s: 3.3,
      zeta: 0,
      direct_only: 5
    }
  });

  test('only measures both sides have, known keys first in a fixed order', () => {
    assert.deepEqual(
      rows.map(r => r.key),
      ['requests', 'context_bytes', 'wall_s', 'zeta']
    );
  });

  test('counts as a percentage change, time as a speed-up', () => {
    assert.deepEqual(
      rows.map(r => [r.ptc, r.direct, r.change, r.better]),
      [
        ['2', '11', '−82%', true],
        ['310 B', '4.1 KB', '−93%', true],
        ['400 ms', '3.30 s', '8.2× faster', true], // 3.3 / 0.4 is 8.2499… in binary
        ['1', '0', '', false]
      ]
    );
  });

  test('worse and slower say so', () => {
    const [requests, wall] = savings({
      ptc: { requests: 3, wall_s: 2 },
      direct: { requests: 2, wall_s: 1 }
    });
    assert.equal(requests.change, '+50%');
    assert.equal(requests.better, false);
    assert.equal(wall.change, '0.5× slower');
  });
});

test('asText: strings as they are, other values as JSON, never throws', () => {
  assert.equal(asText('plain'), 'plain');
  assert.equal(asText({ a: [1, 2] }), '{"a":[1,2]}');
  assert.equal(asText({ a: 1 }, true), '{\n  "a": 1\n}');
  assert.equal(asText(undefined), 'undefined');
  const loop: { [key: string]: unknown } = {};
  loop.self = loop;
  assert.equal(asText(loop), '[object Object]');
});
