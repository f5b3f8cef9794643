/**
 * `npm run bench -- <name> [args]`: runs bench/<name>.ts, whose `run(args)` prints its table and returns the
 * results, written to bench/results/<name>.json (or the name its optional `resultName(args)` gives, e.g.
 * ingest-ramp.json for `ingest --ramp`). `npm run bench` alone lists the benchmarks.
 * The load tool people size deployments with, `meetcore bench` (src/loadtest/cli.ts), runs instead for
 * `npm run bench -- egress ...`, and for `signaling` or `meeting` given one of its own options (--target,
 * --ramp, --duration, --json, --out, --workers, --token, --token-file, --egress-secret-file): the developer benchmarks of those names keep their
 * side-by-side floors and options.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const names = fs.readdirSync(here).filter((f) => f.endsWith('.ts') && f !== 'index.ts' && !f.startsWith('_')).map((f) => f.slice(0, -3));
const [name, ...args] = process.argv.slice(2);
const LOAD_TOOL_OPTIONS = ['--target', '--ramp', '--duration', '--json', '--out', '--workers', '--token', '--token-file', '--egress-secret-file'];
if (name === 'egress' || ((name === 'signaling' || name === 'meeting') && args.some((a) => LOAD_TOOL_OPTIONS.includes(a.split('=')[0]!)))) {
  const { runBench } = await import('../src/loadtest/cli.js');
  process.exit(await runBench([name, ...args]));
}
if (!name || !names.includes(name)) {
  process.stderr.write(`usage: npm run bench -- <${names.join('|')}> [args]   (developer benchmarks)\n       npm run bench -- <signaling|egress|meeting> --target URL|--ramp|--duration S ...   (meetcore bench, the load tool)\n`);
  process.exit(name ? 2 : 0);
}
const mod = (await import(`./${name}.ts`)) as { run(args: string[]): Promise<object>; resultName?(args: string[]): string };
const results = await mod.run(args);
const out = path.join(here, 'results', `${mod.resultName?.(args) ?? name}.json`);
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, `${JSON.stringify({ bench: name, args, at: new Date().toISOString(), node: process.version, results }, null, 2)}\n`);
process.stdout.write(`results written to ${path.relative(process.cwd(), out)}\n`);
process.exit(0);
