/**
 * The keeper's signing key: from TIDEMARK_KEEPER_PRIVATE_KEY, or from an encrypted JSON keystore
 * (TIDEMARK_KEEPER_KEYSTORE, its password in TIDEMARK_KEEPER_KEYSTORE_PASSWORD). Never from a file in plain text or a
 * flag (shell history), and never logged: errors name the variable, not the value.
 */
import { readFileSync } from "node:fs";

import { Wallet } from "ethers";
import type { LocalAccount } from "viem";
import { privateKeyToAccount } from "viem/accounts";

export class SignerError extends Error {
  override name = "SignerError";
}

/** The signer, or null when neither variable is set (allowed only in dry-run mode, checked by the caller). */
export async function loadSigner(env: NodeJS.ProcessEnv = process.env): Promise<LocalAccount | null> {
  const key = env.TIDEMARK_KEEPER_PRIVATE_KEY;
  const keystore = env.TIDEMARK_KEEPER_KEYSTORE;
  if (key && keystore) throw new SignerError("set TIDEMARK_KEEPER_PRIVATE_KEY or TIDEMARK_KEEPER_KEYSTORE, not both");
  if (key) {
    if (!/^0x[0-9a-fA-F]{64}$/.test(key)) throw new SignerError("TIDEMARK_KEEPER_PRIVATE_KEY must be 0x followed by 64 hex digits");
    return privateKeyToAccount(key as `0x${string}`);
  }
  if (keystore) {
    const password = env.TIDEMARK_KEEPER_KEYSTORE_PASSWORD;
    if (password === undefined) throw new SignerError("TIDEMARK_KEEPER_KEYSTORE_PASSWORD must be set to decrypt TIDEMARK_KEEPER_KEYSTORE");
    let json: string;
    try {
      json = readFileSync(keystore, "utf8");
    } catch (err) {
      throw new SignerError(`TIDEMARK_KEEPER_KEYSTORE: cannot read ${keystore}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    try {
      const wallet = await Wallet.fromEncryptedJson(json, password);
      return privateKeyToAccount(wallet.privateKey as `0x${string}`);
    } catch {
      throw new SignerError(`TIDEMARK_KEEPER_KEYSTORE: cannot decrypt ${keystore} (wrong password or not a keystore)`);
    }
  }
  return null;
}
