/**
 * Builds the SDK package (`sdk/dist`, what `@tidemark/sdk` exports) and bundles it for the browser with esbuild, viem
 * left external, to measure what the SDK adds to a frontend's bundle and to prove no Node built-in is on a browser path.
 *
 *   npm run sdk:bundle        prints minified and gzip sizes per entry
 *
 * The SDK's tests run the same checks (test/ts/sdk/package.test.ts).
 */
import { execFileSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

import { build } from "esbuild";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** What a frontend typically imports, and the math alone. */
export const BUNDLE_ENTRIES = {
  /** Actions, decorator, math, errors, watchers: the whole public surface a dApp would use. */
  full: `export * from "@tidemark/sdk";`,
  /** Reading a position and its health, and trading. */
  trading: `export { getPosition, openPosition, closePosition, quoteTrade, tidemarkActions } from "@tidemark/sdk";`,
  /** The risk math only, through its own entry point. */
  math: `export { positionHealth, liquidationPrice, maxTradeSize, previewTrade } from "@tidemark/sdk/math";`,
} as const;

export type BundleReport = { entry: string; bytes: number; gzipBytes: number; inputs: string[]; text: string };

/** Compiles sdk/src to sdk/dist with the package's build config. */
export function buildSdk(): void {
  try {
    execFileSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", join(ROOT, "sdk", "tsconfig.build.json")], {
      stdio: "pipe",
    });
  } catch (err) {
    // tsc reports on stdout. The SDK compiles without Node's types, so a Node built-in or global fails here.
    throw new Error(`SDK build failed:\n${(err as { stdout?: Buffer }).stdout?.toString() ?? err}`);
  }
}

/**
 * Bundles one entry for the browser (platform "browser": a Node built-in fails to resolve and fails the build), viem
 * external, minified. Returns sizes and the files that went in.
 */
export async function bundle(entry: keyof typeof BUNDLE_ENTRIES): Promise<BundleReport> {
  const result = await build({
    stdin: { contents: BUNDLE_ENTRIES[entry], resolveDir: ROOT, loader: "ts", sourcefile: `${entry}.ts` },
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    treeShaking: true,
    metafile: true,
    logLevel: "silent",
    external: ["viem", "viem/*"],
  });
  const text = result.outputFiles[0].text;
  const bytes = Buffer.byteLength(text);
  return { entry, bytes, gzipBytes: gzipSync(text, { level: 9 }).length, inputs: Object.keys(result.metafile.inputs), text };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildSdk();
  for (const entry of Object.keys(BUNDLE_ENTRIES) as (keyof typeof BUNDLE_ENTRIES)[]) {
    const r = await bundle(entry);
    console.log(`${entry.padEnd(8)} ${String(r.bytes).padStart(8)} B minified  ${String(r.gzipBytes).padStart(7)} B gzip  (viem excluded)`);
  }
}
