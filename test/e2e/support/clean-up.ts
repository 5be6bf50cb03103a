/**
 * For afterAll hooks: runs every step, in order, even when an earlier one throws (a browser that
 * never launched must not keep the system from being stopped), then throws the first error, if any.
 */
export async function cleanUp(...steps: Array<() => unknown>): Promise<void> {
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, `${errors.length} clean-up steps failed`);
}
