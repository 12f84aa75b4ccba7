/** The polling loop of the watchers. Internal: not part of the package's exports. */

/** Longest wait between two attempts after consecutive failures (unless the polling interval itself is longer). */
export const MAX_BACKOFF_MS = 30_000;

/** Whether the loop is still running: checked by the task before every callback. */
export type LoopState = { readonly active: boolean };

/**
 * Runs `task` now and then again `interval` ms after each completion (never two at once). A task that throws is
 * reported to `onError` and retried with capped exponential backoff: after n consecutive failures the next attempt
 * waits interval * 2^(n-1), at most max(interval, MAX_BACKOFF_MS). Nothing escapes the loop (an `onError` that throws is
 * ignored). Returns `stop`: no task starts and no error is reported after it returns.
 */
export function startLoop(
  task: (state: LoopState) => Promise<void>,
  options: { interval: number; onError?: ((error: Error) => void) | undefined; delay?: number | undefined },
): () => void {
  const state = { active: true };
  let failures = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const tick = async () => {
    timer = undefined;
    try {
      await task(state);
      failures = 0;
    } catch (err) {
      failures++;
      if (state.active) report(options.onError, err);
    }
    if (!state.active) return;
    timer = setTimeout(tick, backoff(options.interval, failures));
  };
  timer = setTimeout(tick, options.delay ?? 0);

  return () => {
    state.active = false;
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
}

/** The wait before the next attempt after `failures` consecutive failures. */
export function backoff(interval: number, failures: number): number {
  if (failures === 0) return interval;
  const cap = Math.max(interval, MAX_BACKOFF_MS);
  return Math.min(interval * 2 ** Math.min(failures - 1, 30), cap);
}

/** Calls `onError` with an Error (wrapping a non-Error), swallowing anything it throws. */
export function report(onError: ((error: Error) => void) | undefined, err: unknown): void {
  if (!onError) return;
  try {
    onError(err instanceof Error ? err : new Error(String(err), { cause: err }));
  } catch {
    // The loop must survive a failing error handler.
  }
}
