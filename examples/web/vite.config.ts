import { builtinModules } from "node:module";

import { defineConfig, type Plugin } from "vite";

const NODE_BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/**
 * Fails the build when anything imports a Node built-in. Vite would otherwise replace it with an empty browser stub
 * and only warn, and the page would break at run time.
 */
const noNodeBuiltins = (): Plugin => ({
  name: "tidemark:no-node-builtins",
  enforce: "pre",
  resolveId(id, importer) {
    if (NODE_BUILTINS.has(id)) this.error(`${importer ?? "?"} imports the Node built-in "${id}", which does not exist in browsers`);
    return null;
  },
});

export default defineConfig({
  // Relative asset URLs: the built page works from any path (a static host's subfolder, file servers).
  base: "./",
  plugins: [noNodeBuiltins()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022", // bigint literals
    sourcemap: true,
  },
});
