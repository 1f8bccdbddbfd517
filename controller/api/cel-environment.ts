import { Environment } from "@marcbachmann/cel-js";
import { parseQuantity } from "./quantity.js";

/**
 * A CEL environment with the Kubernetes extension functions our CRD rules use, so that
 * `gridvm validate` evaluates the very rule strings the apiserver evaluates. Only the subset
 * the CRDs need is provided; a rule that calls anything else fails loudly in the tests.
 */

class Cidr {
  constructor(
    readonly network: number,
    readonly prefix: number,
  ) {}
}

class Quantity {
  constructor(readonly value: bigint) {}
}

function ipv4ToNumber(text: string): number {
  const parts = text.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^[0-9]{1,3}$/.test(p) || Number(p) > 255)) {
    throw new Error(`IP Address ${JSON.stringify(text)} parse error`);
  }
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

function parseCidr(text: string): Cidr {
  const [ip, prefixText] = text.split("/");
  const prefix = Number(prefixText);
  if (ip === undefined || !/^[0-9]{1,2}$/.test(prefixText ?? "") || prefix > 32) {
    throw new Error(`network address parse error during conversion from string: ${text}`);
  }
  return new Cidr(ipv4ToNumber(ip), prefix);
}

function containsIp(cidr: Cidr, ip: string): boolean {
  const size = 2 ** (32 - cidr.prefix);
  return Math.floor(ipv4ToNumber(ip) / size) === Math.floor(cidr.network / size);
}

export function createCelEnvironment(): Environment {
  return new Environment({ unlistedVariablesAreDyn: true })
    .registerType("net.CIDR", Cidr)
    .registerType("kubernetes.Quantity", Quantity)
    .registerFunction("cidr(string): net.CIDR", parseCidr)
    .registerFunction("net.CIDR.containsIP(string): bool", containsIp)
    .registerFunction("quantity(string): kubernetes.Quantity", (s: string) => new Quantity(parseQuantity(s)))
    .registerFunction(
      "kubernetes.Quantity.compareTo(kubernetes.Quantity): int",
      (a: Quantity, b: Quantity) => (a.value < b.value ? -1n : a.value > b.value ? 1n : 0n),
    );
}

/** JSON numbers that are integers become CEL ints (bigint), as the apiserver types them. */
export function toCelValue(value: unknown): unknown {
  if (typeof value === "number" && Number.isInteger(value)) return BigInt(value);
  if (Array.isArray(value)) return value.map(toCelValue);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toCelValue(v)]));
  }
  return value;
}
