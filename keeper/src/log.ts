/** JSON logs (pino). Keys, passwords and raw signatures are redacted wherever they appear in a logged object. */
import { type DestinationStream, type Logger, pino } from "pino";

export type { Logger };

/** A logger at `level` writing JSON lines to stdout, or to `destination` (a file: `pino.destination(path)`). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "tidemark-keeper" },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ["privateKey", "*.privateKey", "password", "*.password", "keystorePassword", "*.keystorePassword"],
        censor: "[redacted]",
      },
      // bigint is not JSON: one that reaches the logger is written as a decimal string. The keeper's own fields are
      // JSON numbers (block numbers, counts, gas units) or strings with their unit ("12.34 USDC"); see keeper/README.md.
      hooks: {
        logMethod(args, method) {
          method.apply(
            this,
            args.map((a) => (a !== null && typeof a === "object" ? JSON.parse(JSON.stringify(a, (_k, v) => (typeof v === "bigint" ? v.toString() : v))) : a)) as Parameters<typeof method>,
          );
        },
      },
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
