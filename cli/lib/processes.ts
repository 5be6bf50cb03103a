/** Whether process `pid` exists (EPERM: it does, under another user). No side effects; POSIX signals. */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
