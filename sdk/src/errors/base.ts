/**
 * The root of every error the SDK throws, shaped like viem's `BaseError`: a one-line `shortMessage`, optional
 * `details` and `metaMessages`, the `cause` kept, and `walk` to find a cause of a given kind.
 */
export type TidemarkErrorOptions = {
  cause?: unknown;
  details?: string;
  metaMessages?: string[];
};

export class TidemarkError extends Error {
  override name = "TidemarkError";
  readonly shortMessage: string;
  readonly details: string | undefined;
  readonly metaMessages: string[] | undefined;

  constructor(shortMessage: string, options: TidemarkErrorOptions = {}) {
    const lines = [shortMessage, ...(options.metaMessages ?? []), ...(options.details ? [`Details: ${options.details}`] : [])];
    super(lines.join("\n"), options.cause === undefined ? undefined : { cause: options.cause });
    this.shortMessage = shortMessage;
    this.details = options.details;
    this.metaMessages = options.metaMessages;
  }

  /** This error or the first error in its cause chain for which `fn` returns true (the deepest when no `fn`). */
  walk(fn?: (err: unknown) => boolean): unknown {
    let err: unknown = this;
    for (let depth = 0; depth < 32 && err !== undefined && err !== null; depth++) {
      if (fn?.(err)) return err;
      const next = (err as { cause?: unknown }).cause;
      if (!fn && (next === undefined || next === null)) return err;
      err = next;
    }
    return fn ? null : err;
  }
}

/** A caller passed a value the SDK refuses before any RPC call (nothing was sent). */
export class InvalidParameterError extends TidemarkError {
  override name = "InvalidParameterError";
  readonly parameter: string;

  constructor(parameter: string, message: string) {
    super(`Invalid ${parameter}: ${message}`);
    this.parameter = parameter;
  }
}
