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

/** Why an LP request action refused: see {@link LpRequestStateError}. */
export type LpRequestStateReason = "pending" | "noRequest" | "notExpired" | "nothingClaimable";

/**
 * An LP request action refused because of the request's state, before sending anything: a deposit or redemption
 * request is already pending for the controller (`pending`), there is none to cancel (`noRequest`), it has not
 * expired yet (`notExpired`), or nothing is claimable (`nothingClaimable`). The message gives the amounts and times.
 */
export class LpRequestStateError extends TidemarkError {
  override name = "LpRequestStateError";
  readonly reason: LpRequestStateReason;
  /** The request's direction. */
  readonly kind: "deposit" | "redeem";
  /** The controller whose request it is. */
  readonly controller: `0x${string}`;

  constructor(reason: LpRequestStateReason, kind: "deposit" | "redeem", controller: `0x${string}`, message: string) {
    super(message);
    this.reason = reason;
    this.kind = kind;
    this.controller = controller;
  }
}
