/**
 * workerd implements `node:async_hooks`' AsyncLocalStorage under the `nodejs_compat` flag. The
 * Worker's types leave @types/node out on purpose (no Node-only API by accident), so only the part
 * the audit recorder uses is declared here.
 */
declare module 'node:async_hooks' {
  export class AsyncLocalStorage<T> {
    getStore(): T | undefined;
    run<R>(store: T, callback: () => R): R;
  }
}
