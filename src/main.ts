/**
 * Entry point of `npm start`, `npx meetcore` and the single executable: `meetcore [serve]`, `meetcore check`,
 * `meetcore egress-url --room R ...` (src/cli.ts), `meetcore bench <scenario> ...` (src/loadtest/cli.ts),
 * `meetcore --version`.
 * Exit codes: 0 after a graceful stop, 1 on a configuration or start-up error (a bad variable, DATA_DIR or
 * STORAGE_DIR not writable: `meetcore: configuration error: STORAGE_DIR: /srv/x is not writable (EROFS: ...)`,
 * or DATA_DIR — in the binary also its `native/` and `native/<hash>/` — not private to the running user:
 * `meetcore: configuration error: DATA_DIR: /tmp/x is owned by uid 65534, not by the running user (uid 0)`),
 * 2 on a usage error, 70 after a graceful stop for an unexpected error that left the state unknown (src/faults.ts,
 * README "When meetcore exits"). Other unexpected errors are logged and counted, and the server stays up.
 */
import { ConfigError, checkWritableDirs, loadConfig } from './config.js';
import { EXIT_STATE_UNKNOWN, FaultPolicy } from './faults.js';
import { createLogger } from './log.js';
import { extraction, inBinary, setNativeDir, version } from './runtime.js';
import { startServer } from './server.js';

async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--version' || argv[0] === '-v' || argv[0] === 'version') {
    process.stdout.write(`meetcore ${version()} (node ${process.versions.node}${inBinary ? ', single executable' : ''})\n`);
    process.exit(0);
  }
  if (argv[0] === 'bench') {
    const { runBench } = await import('./loadtest/cli.js');
    process.exit(await runBench(argv.slice(1)));
  }
  if (argv[0] === '__bench-worker') {
    const { runWorker } = await import('./loadtest/worker.js');
    runWorker();
    return;
  }
  let config;
  try {
    config = loadConfig();
    setNativeDir(config.DATA_DIR);
    // Serving needs both folders writable; `egress-url` only reads the secrets.
    if (!argv[0] || argv[0] === 'serve') checkWritableDirs(config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`meetcore: configuration error: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  if (argv[0] && argv[0] !== 'serve') {
    const { runCli } = await import('./cli.js');
    process.exit(await runCli(config, argv));
  }
  const log = createLogger(config.LOG_LEVEL);
  let started: Promise<Awaited<ReturnType<typeof startServer>>> | null = null;
  const stop = () => started!.then((server) => server.stop());
  // Unexpected errors: logged and counted, or a graceful stop and exit 70 when they leave the state unknown.
  const faults = new FaultPolicy({ log, stop, exit: (code) => process.exit(code) });
  faults.install();
  // Handlers go in before the start, so a signal that arrives while it is still starting (or right after
  // the "listening" line) stops the server once it is up instead of killing it half-started. A signal while
  // the server stops for an unknown state does not turn its exit code into 0.
  const exit = (code: number) => process.exit(faults.stateUnknown ? EXIT_STATE_UNKNOWN : code);
  const onSignal = (signal: NodeJS.Signals): void => {
    log.info({ signal }, 'signal received');
    void stop().then(() => exit(0), (err: unknown) => { log.error({ err }, 'shutdown failed'); exit(1); });
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  started = startServer(config, log);
  try {
    const server = await started;
    server.ctx.metrics.registerMetric(faults.counter);
    if (inBinary) log.info({ dir: extraction.dir, written: extraction.written, reused: extraction.reused }, 'native addons');
  } catch (err) {
    log.fatal({ err }, 'start-up failed');
    process.exit(1);
  }
}

void main(process.argv.slice(2));
