/** The paper's default prefix. */
export const DEFAULT_MAC_PREFIX = "de:af:de:af";

export function isValidMacPrefix(prefix: string): boolean {
  return /^[0-9a-f]{2}(:[0-9a-f]{2}){3}$/i.test(prefix);
}

/**
 * MAC = 4-byte prefix + the IP's last 16 bits (paper): 192.168.100.2 -> de:af:de:af:64:02. An
 * admin can read the IP off the MAC, and the MAC is unique wherever the IP is (within one prefix).
 */
export function macForIp(prefix: string, ip: number): string {
  if (!isValidMacPrefix(prefix))
    throw new Error(`MAC prefix "${prefix}" is not four hex bytes like de:af:de:af`);
  const hex = (b: number) => b.toString(16).padStart(2, "0");
  return `${prefix.toLowerCase()}:${hex((ip >>> 8) & 255)}:${hex(ip & 255)}`;
}

export function normalizeMac(mac: string): string {
  return mac.trim().toLowerCase();
}
