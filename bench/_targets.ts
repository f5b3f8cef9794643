/**
 * Target rows shared by the benchmarks: one row per target of the issue, with the measured figure, the limit,
 * the comparison and a met / NOT met mark (n/a when the figure was not measured in this run). Printed as one
 * table and written into each bench's JSON (`targets: TargetRow[]`). Targets are reported, never asserted.
 */

export interface TargetRow {
  /** What is measured, in the project's words, e.g. "meetcore / floor CPU (10 ms frames)". */
  name: string;
  measured: number | null;
  op: '<=' | '>=';
  limit: number | null;
  unit: string;
  /** null: not measured in this run (variant skipped, no reference figure). */
  met: boolean | null;
}

const finite = (x: number | null | undefined): x is number => typeof x === 'number' && Number.isFinite(x);

/** One target row; `met` is null when either side is missing. */
export function target(name: string, measured: number | null | undefined, op: '<=' | '>=', limit: number | null | undefined, unit = ''): TargetRow {
  const m = finite(measured) ? measured : null;
  const l = finite(limit) ? limit : null;
  return { name, measured: m, op, limit: l, unit, met: m === null || l === null ? null : op === '<=' ? m <= l : m >= l };
}

export const mark = (met: boolean | null): string => (met === null ? 'n/a' : met ? 'met' : 'NOT met');

/** Print the rows as one table: target, measured, limit, met. */
export function printTargets(rows: TargetRow[], title = 'targets'): void {
  process.stdout.write(`${title}:\n`);
  console.table(Object.fromEntries(rows.map((r) => [r.name, {
    measured: r.measured === null ? '—' : `${r.measured}${r.unit ? ` ${r.unit}` : ''}`,
    limit: r.limit === null ? '—' : `${r.op === '<=' ? '≤' : '≥'} ${r.limit}${r.unit ? ` ${r.unit}` : ''}`,
    met: mark(r.met),
  }])));
}
