/**
 * Test-only fault injection, loaded into a test server's process with `NODE_OPTIONS=--import <this file>`
 * (test/server/faults.test.ts); meetcore itself never loads it. Each SIGUSR2 performs the next action of the
 * comma-separated MEETCORE_TEST_FAULT list:
 *
 * - `throw`: a timer callback throws (an uncaught exception);
 * - `reject`: a promise is rejected with no handler;
 * - `burst`: eleven timer callbacks throw, one after the other;
 * - `native`: the next event batch of the audio addon reaches meetcore's callback malformed (events `null`
 *   instead of an array), so that meetcore's own batch handling throws inside the addon's callback. For this,
 *   the addon's AudioEngine constructor is wrapped when Node loads `meetcore_audio.node` (process.dlopen);
 * - `block:<ms>`: a callback holds the event loop for <ms> milliseconds (a busy wait, as a long synchronous
 *   computation would; test/metrics/loop-delay.test.ts).
 */
const actions = (process.env.MEETCORE_TEST_FAULT ?? '').split(',').filter(Boolean);
let nativeArmed = false;

const dlopen = process.dlopen;
process.dlopen = function (module, filename, ...rest) {
  dlopen.call(this, module, filename, ...rest);
  const Native = module.exports?.AudioEngine;
  if (String(filename).includes('meetcore_audio') && typeof Native === 'function') {
    module.exports.AudioEngine = function AudioEngine(options, onEvents) {
      return new Native(options, (events, stats) => {
        if (!nativeArmed) return onEvents(events, stats);
        nativeArmed = false;
        return onEvents(null, stats);
      });
    };
  }
};

process.on('SIGUSR2', () => {
  const action = actions.shift();
  if (action === 'throw') setImmediate(() => { throw new Error('injected fault: a timer callback threw'); });
  else if (action === 'reject') void Promise.reject(new Error('injected fault: a promise was rejected'));
  else if (action === 'burst') for (let i = 1; i <= 11; i++) setImmediate(() => { throw new Error(`injected fault ${i} of 11`); });
  else if (action === 'native') nativeArmed = true;
  else if (action?.startsWith('block:')) {
    const ms = Number(action.slice('block:'.length));
    setImmediate(() => { const end = performance.now() + ms; while (performance.now() < end); });
  }
});
