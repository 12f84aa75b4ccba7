/**
 * Amounts as a person reads them in logs and /healthz, with their unit: "12.34 USDC", "0.000123456 ETH", "1.5 gwei",
 * "9.8765 USD". Built on the SDK's formatters (truncated toward zero, thousands separators, and a nonzero amount never
 * prints as zero); token amounts are exact. Machine-readable raw figures go in separate `…Raw` fields.
 */
import { formatDecimal, formatExact, formatUsd } from "@tidemark/sdk";

/** Trailing fraction zeros dropped: "150.000" is "150", "0.120" is "0.12". */
const trim = (text: string) => (text.includes(".") ? text.replace(/\.?0+$/, "") : text);

/** A token amount, exact, in the token's units: "12.34 USDC". */
export const tokenAmount = (value: bigint, decimals: number, symbol: string) => `${formatExact(value, decimals)} ${symbol}`;

/** A WAD USD value to 4 decimals: "9.8765 USD". */
export const usdAmount = (wad: bigint) => formatUsd(wad, { fractionDigits: 4 });

/** Wei of the gas token to 9 decimals (gwei precision): "0.000123456 ETH". */
export const ethAmount = (wei: bigint) => `${trim(formatDecimal(wei, 18, { fractionDigits: 9 }))} ETH`;

/** Wei per gas in gwei to 3 decimals: "1.5 gwei". */
export const gweiAmount = (wei: bigint) => `${trim(formatDecimal(wei, 9, { fractionDigits: 3 }))} gwei`;
