/**
 * Runs around every workerd test file. The audit trail writes its batches a moment after each
 * response (src/audit/recorder.ts); a file must not end with one still under way, or its log line
 * reaches a test runner that has already closed ("EnvironmentTeardownError: Closing rpc while
 * onUserConsoleLog was pending"), which fails the whole run with every test green.
 */
import { afterAll } from 'vitest';
import { auditWritesSettled } from '../../src/audit/recorder';

afterAll(async () => {
  await auditWritesSettled();
});
