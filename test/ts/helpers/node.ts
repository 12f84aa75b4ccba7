/** `hardhat node` in a child process, for end-to-end tests of the CLIs and the keeper. */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const HARDHAT = join(ROOT, "node_modules/hardhat/dist/src/cli.js");

/** A TCP port free at the time of the call. */
export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
    srv.on("error", rej);
  });
}

/**
 * Starts `hardhat node` on 127.0.0.1:`port` (as `npm run node` does: inside a container it would otherwise bind
 * 0.0.0.0) and resolves once it serves HTTP.
 */
export async function startNode(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [HARDHAT, "node", "--hostname", "127.0.0.1", "--port", String(port)], { cwd: ROOT, stdio: "pipe" });
  await new Promise<void>((res, rej) => {
    let out = "";
    const timer = setTimeout(() => rej(new Error(`hardhat node did not start:\n${out}`)), 60_000);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("Started HTTP")) {
        clearTimeout(timer);
        res();
      }
    });
    child.on("exit", (code) => rej(new Error(`hardhat node exited with ${code}:\n${out}`)));
  });
  // The node prints every request: drain its output so the pipe never fills and blocks it.
  child.stdout!.resume();
  child.stderr!.resume();
  return child;
}
