/**
 * Temporary `tidal standalone` for the e2e tests while src/cli/main.ts does not register the
 * command: the same command (registerStandaloneCommand) under the same error handling as main.ts.
 * Run with `node --import tsx test/e2e/standalone-launcher.ts standalone ...`.
 */
import { Command, CommanderError } from 'commander';
import { registerStandaloneCommand } from '../../src/cli/standalone-command.js';

const program = new Command('tidal').exitOverride();
registerStandaloneCommand(program);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  const msg = err instanceof Error ? err.message : String(err);
  process.stderr.write(`tidal: ${msg.split('\n')[0]}\n`);
  process.exit(1);
}
