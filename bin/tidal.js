#!/usr/bin/env node
// The `tidal` command. Runs the TypeScript sources through tsx's loader, so no build step is
// needed after `npm install`.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
