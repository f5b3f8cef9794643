/**
 * The HTML report of one `meetcore bench` run, and the files a run leaves behind
 * (<outDir>/<scenario>-<timestamp>.json and .html).
 *
 * The page is self-contained: inline <style>, charts as inline <svg>, no script, no external CSS, font or
 * image, so it opens from disk with no network. Charts are Vega-Lite specs compiled with `vega-lite` and
 * rendered to SVG strings by `vega` in Node (renderer 'none': no DOM, no canvas; text widths are estimated).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { CHART_CONFIG as CONFIG, renderSvg } from '../charts.js';
import type { Baseline, BenchReport, Percentiles, Step } from './types.js';

const CHART_WIDTH = 460;
const CHART_HEIGHT = 240;
const HELD_COLOR = '#2e7d32';
const BROKE_COLOR = '#c62828';
const PERCENTILE_COLORS = { p50: '#1f77b4', p90: '#ff7f0e', p99: '#d62728' } as const;

/**
 * Renders `report` as one self-contained HTML page.
 *
 * Page: title (`meetcore bench <scenario>`, target URL, start date), a summary line with the headline result,
 * warnings, charts, a table of the steps, the overlap figures (meeting scenario), the ramp's service level,
 * and tables of machine, versions and options. All text is HTML-escaped.
 *
 * Charts (Vega-Lite → Vega → SVG string, one inline <svg> each):
 * - ramp (more than one step): latency p50/p90/p99 (ms), CPU % (server when measured, and the load
 *   generator) and throughput, each against the load (`step.load.units`), with vertical rules at the
 *   largest load that held and at the step where it broke;
 * - baselines present: throughput and p99 as two bar charts, one bar per variant, meetcore's own figures
 *   (its last step) as the bar "meetcore";
 * - one step without baselines: a bar chart of its latency percentiles (p50, p90, p99, max).
 *
 * @param report a finished run (src/loadtest/types.ts).
 * @returns the HTML document as a string.
 */
export async function renderHtml(report: BenchReport): Promise<string> {
  const charts = await Promise.all(chartSpecs(report).map(async (c) => ({ title: c.title, svg: await renderSvg(c.spec) })));
  const unit = report.steps[0]?.load.unit ?? 'units';
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(`meetcore bench ${report.scenario} — ${report.startedAt}`)}</title>`,
    `<style>${STYLE}</style>`,
    '</head><body>',
    header(report),
    warnings(report.warnings),
    charts.length ? `<section class="charts">${charts.map((c) => figure(c.title, c.svg)).join('\n')}</section>` : '',
    `<h2>Steps</h2>${stepsTable(report.steps)}`,
    overlapTable(report),
    rampTable(report, unit),
    baselinesTable(report),
    '<h2>Run</h2><div class="facts">',
    keyValueTable('Machine', machineRows(report)),
    keyValueTable('Versions', versionRows(report)),
    keyValueTable('Target', targetRows(report)),
    keyValueTable('Options', Object.entries(report.options).map(([k, v]) => [k, v === null ? '—' : String(v)])),
    '</div>',
    '</body></html>',
    '',
  ].join('\n');
}

/**
 * Writes the report as `<outDir>/<scenario>-<timestamp>.json` (pretty JSON) and `.html`, the timestamp being
 * report.startedAt made filesystem-safe (2026-12-01T20-31-05Z). Creates outDir when missing.
 * @returns the paths of both files.
 */
export async function writeReport(report: BenchReport, outDir: string): Promise<{ json: string; html: string }> {
  await fs.mkdir(outDir, { recursive: true });
  const base = path.join(outDir, `${report.scenario}-${fileTimestamp(report.startedAt)}`);
  const json = `${base}.json`;
  const html = `${base}.html`;
  await fs.writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  await fs.writeFile(html, await renderHtml(report));
  return { json, html };
}

/** An ISO date as a file-name part without ':' or fractions of a second: 2026-12-01T20-31-05Z. */
export function fileTimestamp(iso: string): string {
  const date = new Date(iso);
  const text = Number.isNaN(date.getTime()) ? iso : date.toISOString().replace(/\.\d+Z$/, 'Z');
  return text.replace(/:/g, '-').replace(/[^0-9A-Za-z._-]/g, '_');
}

// ---------------------------------------------------------------------------------------------------------
// Charts

interface Chart { title: string; spec: TopLevelSpec }

/** The charts this report gets, in page order. */
function chartSpecs(report: BenchReport): Chart[] {
  const charts: Chart[] = [];
  if (report.steps.length > 1) charts.push(...rampCharts(report));
  if (report.baselines.length) charts.push(...baselineCharts(report));
  else if (report.steps.length === 1) charts.push(singleStepChart(report.steps[0], report));
  return charts;
}



/** The top of every chart spec: title, size, white background, CONFIG. */
function base(title: string) {
  return {
    title: { text: title, anchor: 'start', fontSize: 14, fontWeight: 'bold', offset: 10 },
    width: CHART_WIDTH, height: CHART_HEIGHT, background: 'white', config: CONFIG as never,
  };
}

/** Latency, CPU and throughput against the load, for a ramp. */
function rampCharts(report: BenchReport): Chart[] {
  const steps = report.steps;
  const unit = steps[0].load.unit;
  const markers = rampMarkers(report);
  const latency = steps.flatMap((s) => (['p50', 'p90', 'p99'] as const).flatMap((p) => {
    const ms = s.latency[`${p}Ms`];
    return ms === null ? [] : [{ load: s.load.units, series: p, value: ms }];
  }));
  const log = wideRange(latency.map((r) => r.value));
  const sloP99 = report.ramp?.slo.p99Ms;
  const serverMeasured = steps.some((s) => s.server !== null);
  const cpu = steps.flatMap((s) => [
    ...(s.server ? [{ load: s.load.units, series: 'server CPU %', value: s.server.cpuPct }] : []),
    { load: s.load.units, series: 'generator CPU %', value: s.generator.cpuPct },
  ]);
  const throughputUnit = steps[0].throughput.unit;
  const throughput = steps.map((s) => ({ load: s.load.units, series: 'throughput', value: s.throughput.value }));
  const latencyTitle = `${latencyName(report)} p50 / p90 / p99`;
  const cpuTitle = serverMeasured ? 'CPU: server and load generator' : 'CPU: load generator (no server /metrics)';
  return [
    {
      title: latencyTitle,
      spec: lineChart(latencyTitle, unit, log ? 'latency (ms, log scale)' : 'latency (ms)', latency, markers, {
        colors: { domain: ['p50', 'p90', 'p99'], range: Object.values(PERCENTILE_COLORS) },
        yScale: log ? { type: 'log' } : { zero: true },
        hRule: sloP99 === undefined ? undefined : { value: sloP99, label: `p99 limit ${fmt(sloP99)} ms` },
      }),
    },
    {
      title: cpuTitle,
      spec: lineChart(cpuTitle, unit, 'CPU % (100 = one core)', cpu, markers, {
        colors: { domain: ['server CPU %', 'generator CPU %'], range: ['#6a3d9a', '#8c8c8c'] },
      }),
    },
    {
      title: `throughput (${throughputUnit})`,
      spec: lineChart(`throughput (${throughputUnit})`, unit, throughputUnit, throughput, markers, {
        colors: { domain: ['throughput'], range: ['#1f77b4'] }, legend: false,
      }),
    },
  ];
}

/** True when positive values span more than 30×: latency then reads better on a log scale. */
function wideRange(values: number[]): boolean {
  const positive = values.filter((v) => v > 0);
  return positive.length === values.length && positive.length > 0 && Math.max(...positive) / Math.min(...positive) > 30;
}

interface Marker { load: number; label: string; kind: 'held' | 'broke' }

/** Where the ramp held last and where it broke, as vertical rules. */
function rampMarkers(report: BenchReport): Marker[] {
  const markers: Marker[] = [];
  if (report.ramp?.held) markers.push({ load: report.ramp.held.load.units, label: `held: ${fmt(report.ramp.held.load.units)}`, kind: 'held' });
  if (report.ramp?.brokeAt) markers.push({ load: report.ramp.brokeAt.load.units, label: `broke: ${fmt(report.ramp.brokeAt.load.units)}`, kind: 'broke' });
  return markers;
}

interface LineOptions {
  colors: { domain: string[]; range: string[] };
  /** Vega-Lite scale properties of the y axis (default: linear from zero). */
  yScale?: object;
  /** A horizontal limit line, e.g. the p99 service level. */
  hRule?: { value: number; label: string };
  legend?: boolean;
}

/**
 * Lines with points of `series` against the load, plus the held/broke rules. Each rule's label sits on its
 * own line at the bottom (load curves rise, so the bottom right is usually free), on the side of the rule
 * facing the middle of the chart, so that neighbouring steps do not overwrite each other and labels stay
 * inside the plot.
 */
function lineChart(title: string, unit: string, yTitle: string, rows: { load: number; series: string; value: number }[],
  markers: Marker[], options: LineOptions): TopLevelSpec {
  const x = { field: 'load', type: 'quantitative', title: unit, scale: { zero: true, nice: true }, axis: { format: ',~r' } } as const;
  const y = { field: 'value', type: 'quantitative', title: yTitle, scale: options.yScale ?? { zero: true }, axis: { format: ',~r' } } as const;
  const maxLoad = Math.max(...rows.map((r) => r.load), ...markers.map((m) => m.load));
  const layers: object[] = [{
    data: { values: rows },
    mark: { type: 'line', point: { filled: true, size: 50 }, strokeWidth: 2 },
    encoding: {
      x, y,
      color: { field: 'series', type: 'nominal', title: null, scale: options.colors, legend: options.legend === false ? null : {} },
    },
  }];
  if (options.hRule) layers.push(...limitLayers(options.hRule, y));
  if (markers.length) {
    layers.push(
      {
        data: { values: markers },
        mark: { type: 'rule', strokeDash: [5, 3], strokeWidth: 1.5 },
        encoding: { x, color: markerColor() },
      },
      ...markers.map((m, i) => ({
        data: { values: [m] },
        mark: { type: 'text', align: m.load > maxLoad / 2 ? 'right' : 'left', dx: m.load > maxLoad / 2 ? -4 : 4, baseline: 'bottom',
          y: CHART_HEIGHT - 4 - 16 * i, fontSize: 11, fontWeight: 'bold' },
        encoding: { x, text: { field: 'label' }, color: markerColor() },
      })),
    );
  }
  return { ...base(title), layer: layers, resolve: { scale: { color: 'independent' } } } as TopLevelSpec;
}

/** A dotted horizontal line at `value`, labelled at its left end. */
function limitLayers(limit: { value: number; label: string }, y: object): object[] {
  const data = { values: [limit] };
  return [
    { data, mark: { type: 'rule', strokeDash: [2, 2], color: '#555', strokeWidth: 1.2 }, encoding: { y } },
    { data, mark: { type: 'text', align: 'left', baseline: 'bottom', x: 4, dy: -2, fontSize: 11, color: '#555' }, encoding: { y, text: { field: 'label' } } },
  ];
}

function markerColor(): object {
  return { field: 'kind', type: 'nominal', scale: { domain: ['held', 'broke'], range: [HELD_COLOR, BROKE_COLOR] }, legend: null };
}

/** Throughput and p99 as bars, one per variant: meetcore (its last step) and each baseline. */
function baselineCharts(report: BenchReport): Chart[] {
  const last = report.steps[report.steps.length - 1];
  const variants: Baseline[] = [
    ...(last ? [{ name: 'meetcore', throughput: last.throughput, latency: last.latency, cpuPct: last.server?.cpuPct ?? null }] : []),
    ...report.baselines,
  ];
  const unit = variants[0]?.throughput.unit ?? 'messages/s';
  const throughput = variants.map((v) => ({ variant: v.name, value: v.throughput.value }));
  const p99 = variants.filter((v) => v.latency.p99Ms !== null).map((v) => ({ variant: v.name, value: v.latency.p99Ms as number }));
  const names = variants.map((v) => v.name);
  return [
    { title: 'throughput by variant', spec: barChart(`throughput (${unit}), higher is better`, unit, throughput, names) },
    { title: 'p99 by variant', spec: barChart(`${latencyName(report)} p99 (ms), lower is better`, 'p99 (ms)', p99, names) },
  ];
}

/** Horizontal bars, meetcore highlighted, the value written at the end of each bar. */
function barChart(title: string, xTitle: string, rows: { variant: string; value: number }[], order: string[]): TopLevelSpec {
  const y = { field: 'variant', type: 'nominal', title: null, sort: order, axis: { labelLimit: 200 } } as const;
  const x = { field: 'value', type: 'quantitative', title: xTitle, axis: { format: ',~r' } } as const;
  return {
    ...base(title),
    width: 340,
    height: { step: 34 },
    data: { values: rows },
    layer: [
      {
        mark: { type: 'bar', cornerRadiusEnd: 2 },
        encoding: {
          y, x,
          color: { condition: { test: "datum.variant === 'meetcore'", value: '#1f77b4' }, value: '#9ecae1' },
        },
      },
      {
        mark: { type: 'text', align: 'left', dx: 4, fontSize: 11 },
        encoding: { y, x, text: { field: 'value', type: 'quantitative', format: ',.4~r' } },
      },
    ],
  } as TopLevelSpec;
}

/** One step, no baselines: its latency percentiles as bars. */
function singleStepChart(step: Step, report: BenchReport): Chart {
  const rows = percentileRows(step.latency);
  const title = `${latencyName(report)} at ${fmt(step.load.units)} ${step.load.unit}`;
  return { title, spec: barChart(title, 'ms', rows, rows.map((r) => r.variant)) };
}

function percentileRows(p: Percentiles): { variant: string; value: number }[] {
  const all = [['p50', p.p50Ms], ['p90', p.p90Ms], ['p99', p.p99Ms], ['max', p.maxMs]] as const;
  return all.filter(([, v]) => v !== null).map(([variant, value]) => ({ variant, value: value as number }));
}

/** What "latency" means in this scenario (types.ts, Step.latency). */
function latencyName(report: BenchReport): string {
  switch (report.scenario) {
    case 'signaling': return 'relay latency';
    case 'egress': return 'frame lateness';
    case 'meeting': return 'feedback delivery';
  }
}

// ---------------------------------------------------------------------------------------------------------
// HTML parts

function header(report: BenchReport): string {
  return [
    `<h1>meetcore bench ${esc(report.scenario)}</h1>`,
    `<p class="sub">target <code>${esc(report.target.url)}</code>${report.target.local ? ' (local)' : ''}`
      + ` · ${esc(displayDate(report.startedAt))} · ${esc(duration(report.startedAt, report.finishedAt))}</p>`,
    `<p class="summary">${esc(summary(report))}</p>`,
  ].join('\n');
}

/** The headline: the largest load that held for a ramp, the step's main figures otherwise. */
export function summary(report: BenchReport): string {
  const unit = report.steps[0]?.load.unit ?? 'units';
  const ramp = report.ramp;
  if (ramp && report.steps.length > 1) {
    const held = ramp.held ? `largest load that held: ${fmt(ramp.held.load.units)} ${unit}` : 'no step held';
    const broke = ramp.brokeAt
      ? `broke at ${fmt(ramp.brokeAt.load.units)} ${unit}: ${ramp.reason ?? ramp.brokeAt.broke ?? 'service level missed'}`
      : 'did not break up to the largest step';
    return `${held} (${broke})`;
  }
  const step = report.steps[report.steps.length - 1];
  if (!step) return 'no step was measured';
  return `${fmt(step.load.units)} ${unit}: ${fmt(step.throughput.value)} ${step.throughput.unit}, `
    + `p50 ${ms(step.latency.p50Ms)}, p99 ${ms(step.latency.p99Ms)}, ${fmt(step.errors)} errors`
    + (step.server ? `, server CPU ${pct(step.server.cpuPct)}, RSS ${fmt(step.server.rssMiB)} MiB` : '');
}

function warnings(list: string[]): string {
  if (!list.length) return '';
  return `<div class="warnings" role="alert"><strong>Warnings</strong><ul>${list.map((w) => `<li>${esc(w)}</li>`).join('')}</ul></div>`;
}

function figure(title: string, svg: string): string {
  return `<figure class="chart" aria-label="${esc(title)}">${svg}</figure>`;
}

function stepsTable(steps: Step[]): string {
  const behind = steps.some((s) => s.behindRealTime !== undefined);
  const head = ['step', 'load', 'throughput', 'p50 ms', 'p99 ms', 'errors', 'server CPU %', 'RSS MiB', 'event loop p99 ms',
    'generator CPU %', ...(behind ? ['behind real time'] : []), 'result'];
  const rows = steps.map((s) => {
    const result = s.held ? '<span class="ok">held</span>' : `<span class="bad">broke: ${esc(s.broke ?? 'service level missed')}</span>`;
    const cells = [
      String(s.index + 1), `${fmt(s.load.units)} ${s.load.unit}${shape(s)}`, `${fmt(s.throughput.value)} ${s.throughput.unit}`,
      num(s.latency.p50Ms), num(s.latency.p99Ms), fmt(s.errors), s.server ? fmt(s.server.cpuPct) : '—',
      s.server ? fmt(s.server.rssMiB) : '—', s.server ? num(s.server.eventLoopP99Ms) : '—',
      `${fmt(s.generator.cpuPct)} (${s.generator.workers} workers${s.generator.saturated ? ', saturated' : ''})`,
      ...(behind ? [fmt(s.behindRealTime ?? 0)] : []),
    ].map(esc);
    return `<tr class="${s.held ? 'held' : 'broke'}">${cells.map((c) => `<td>${c}</td>`).join('')}<td>${result}</td></tr>`;
  });
  return table('steps', head, rows);
}

/** How the load was shaped, e.g. " (10 rooms × 20)". */
function shape(s: Step): string {
  const l = s.load;
  if (l.rooms !== undefined && l.participantsPerRoom !== undefined) return ` (${l.rooms} rooms × ${l.participantsPerRoom})`;
  if (l.meetings !== undefined && l.participantsPerMeeting !== undefined) return ` (${l.meetings} meetings × ${l.participantsPerMeeting})`;
  return '';
}

/** The audio's noise: options.snrDb (--snr) of egress and meeting runs. */
export function noiseText(report: BenchReport): string {
  const snr = report.options.snrDb;
  return typeof snr === 'number' ? `white noise at SNR ${fmt(snr)} dB (re each stream's speech RMS)` : 'clean (no noise added)';
}

function overlapTable(report: BenchReport): string {
  const withOverlap = report.steps.filter((s) => s.overlap);
  if (!withOverlap.length) return '';
  const n = (x: number | null | undefined) => (x === null || x === undefined ? '—' : fmt(x));
  const rows = withOverlap.map((s) => {
    const o = s.overlap!;
    const cells = [String(s.index + 1), `${fmt(s.load.units)} ${s.load.unit}`, n(o.truth), n(o.reported), n(o.truePositives),
      n(o.precision), n(o.recall), n(o.rightInterrupter), n(o.backchannels), n(o.reportedOnBackchannels)];
    return `<tr>${cells.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`;
  });
  return `<h2>Overlaps</h2><p class="note">Audio: ${esc(noiseText(report))}. The truth comes from the clean annotated speech: `
    + 'talk spurts (pauses under 300 ms bridged) of two participants intersecting for 500 ms or more, the later spurt lasting 1 s or more; '
    + 'a report matches one of the same pair starting within 1 s (or intersecting it), each at most once.</p>'
    + table('overlap', ['step', 'load', 'truth', 'reported', 'true positives', 'precision', 'recall', 'right interrupter', 'backchannels', 'reported on backchannels'], rows);
}

function rampTable(report: BenchReport, unit: string): string {
  if (!report.ramp) return '';
  const rows: [string, string][] = [
    ...Object.entries(report.ramp.slo).map(([k, v]): [string, string] => [`service level: ${k}`, fmt(v)]),
    ['largest load that held', report.ramp.held ? `${fmt(report.ramp.held.load.units)} ${unit} (step ${report.ramp.held.index + 1})` : '—'],
    ['broke at', report.ramp.brokeAt ? `${fmt(report.ramp.brokeAt.load.units)} ${unit} (step ${report.ramp.brokeAt.index + 1})` : '—'],
    ['reason', report.ramp.reason ?? '—'],
  ];
  return `<h2>Ramp</h2>${keyValueTable(null, rows)}`;
}

function baselinesTable(report: BenchReport): string {
  if (!report.baselines.length) return '';
  const rows = report.baselines.map((b) => {
    const cells = [b.name, `${fmt(b.throughput.value)} ${b.throughput.unit}`, num(b.latency.p50Ms), num(b.latency.p99Ms),
      b.cpuPct === null ? '—' : fmt(b.cpuPct)];
    return `<tr>${cells.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`;
  });
  return `<h2>Baselines</h2>${table('baselines', ['variant', 'throughput', 'p50 ms', 'p99 ms', 'CPU %'], rows)}`;
}

function machineRows(r: BenchReport): [string, string][] {
  const m = r.machine;
  return [['hostname', m.hostname], ['platform', `${m.platform} ${m.arch}`], ['CPU', `${m.cpuModel} × ${m.cores} cores`],
    ['memory', `${fmt(m.memoryGiB)} GiB`]];
}

function versionRows(r: BenchReport): [string, string][] {
  return [['meetcore (bench)', r.meetcoreVersion], ['Node.js', r.machine.node], ['server', r.target.serverVersion ?? 'unknown'],
    ['report schema', String(r.schema)]];
}

function targetRows(r: BenchReport): [string, string][] {
  return [['URL', r.target.url], ['local', r.target.local ? 'yes' : 'no'], ['/metrics', r.target.metrics ? 'read' : 'not reachable'],
    ['started', r.startedAt], ['finished', r.finishedAt]];
}

/** A table whose cells are already-escaped HTML rows. */
function table(cls: string, head: string[], rows: string[]): string {
  return `<table class="${cls}"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>`
    + `<tbody>${rows.join('\n')}</tbody></table>`;
}

function keyValueTable(caption: string | null, rows: [string, string][]): string {
  return `<table class="kv">${caption ? `<caption>${esc(caption)}</caption>` : ''}<tbody>`
    + rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')
    + '</tbody></table>';
}

// ---------------------------------------------------------------------------------------------------------
// Formatting

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text made safe for HTML element content and attribute values. */
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

/** A number for people: thousands separators, 0–2 decimals by size, 3 significant digits below 1. */
function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const a = Math.abs(n);
  if (a > 0 && a < 1) return n.toLocaleString('en-US', { maximumSignificantDigits: 3 });
  return n.toLocaleString('en-US', { maximumFractionDigits: a >= 100 ? 0 : a >= 10 ? 1 : 2 });
}

function num(n: number | null): string {
  return n === null ? '—' : fmt(n);
}

function ms(n: number | null): string {
  return n === null ? '—' : `${fmt(n)} ms`;
}

function pct(n: number): string {
  return `${fmt(n)} %`;
}

function displayDate(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

function duration(from: string, to: string): string {
  const sec = (Date.parse(to) - Date.parse(from)) / 1000;
  if (!Number.isFinite(sec) || sec < 0) return 'duration unknown';
  return sec >= 120 ? `${fmt(sec / 60)} min` : `${fmt(sec)} s`;
}

const STYLE = `
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1d1d1f;
  margin: 24px auto; max-width: 1180px; padding: 0 16px; background: #fafafa; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; }
.sub { color: #555; margin: 0 0 12px; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.summary { font-size: 17px; font-weight: 600; background: #eef4fb; border-left: 4px solid #1f77b4; padding: 8px 12px; margin: 12px 0; }
.warnings { background: #fff4e5; border: 1px solid #f0a040; border-left: 4px solid #e65100; padding: 8px 12px; margin: 12px 0; }
.warnings ul { margin: 4px 0 0; padding-left: 20px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; margin: 16px 0; }
.chart { margin: 0; background: white; border: 1px solid #ddd; border-radius: 4px; padding: 8px; }
.chart svg { display: block; }
table { border-collapse: collapse; background: white; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
thead th { background: #f0f0f0; font-weight: 600; }
table.steps td:not(:last-child), table.overlap td, table.baselines td { font-variant-numeric: tabular-nums; }
tr.broke { background: #fdecea; }
.ok { color: ${HELD_COLOR}; font-weight: 600; }
.bad { color: ${BROKE_COLOR}; font-weight: 600; }
.facts { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
table.kv th { background: #f7f7f7; font-weight: 500; white-space: nowrap; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
`;
