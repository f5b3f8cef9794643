#!/usr/bin/env node
// Runs the TypeScript sources through tsx's loader (installed as a dependency), so `npx meetcore` works
// from a checkout without a build step.
import { register } from 'tsx/esm/api';
register();
await import('../src/main.ts');
