import { X509Certificate, randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { runCommand } from "../machinery/command.js";

/**
 * The webhook's own small PKI: a self-signed CA (its certificate is the caBundle of the webhook
 * configurations) and a serving certificate for the addresses the apiserver dials. Made with
 * openssl (Node can read X.509 but not issue it). Checked at every start: anything missing,
 * expiring within `minValidDays`, not covering the hosts or not issued by the current CA is
 * made again — so rotation is "restart the webhook", and the up script re-applies the
 * configurations with the (possibly new) CA afterwards.
 */
export interface CertificateOptions {
  ips?: readonly string[];
  dnsNames?: readonly string[];
  minValidDays?: number;
  validDays?: number;
  caValidDays?: number;
  now?: Date;
}

export interface Certificates {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** What was (re)made this time, for the log; empty when everything was still good. */
  made: string[];
}

const DAY_MS = 86_400_000;
const OPENSSL_TIMEOUT_MS = 30_000;

export async function ensureCertificates(
  dir: string,
  opts: CertificateOptions = {},
): Promise<Certificates> {
  const ips = opts.ips ?? ["127.0.0.1"];
  const dnsNames = opts.dnsNames ?? ["localhost"];
  const minValidMs = (opts.minValidDays ?? 30) * DAY_MS;
  const now = (opts.now ?? new Date()).getTime();
  const caFile = join(dir, "ca.crt");
  const caKey = join(dir, "ca.key");
  const certFile = join(dir, "tls.crt");
  const keyFile = join(dir, "tls.key");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const made: string[] = [];

  const ca = readCert(caFile);
  const caProblem = !ca || !existsSync(caKey) ? "missing" : expiresSoon(ca, now, minValidMs);
  if (caProblem) {
    await makeCa(dir, caFile, caKey, opts.caValidDays ?? 3650);
    made.push(`CA (${caProblem})`);
  }
  const currentCa = readCert(caFile)!;
  const serving = readCert(certFile);
  const servingProblem =
    !serving || !existsSync(keyFile)
      ? "missing"
      : (expiresSoon(serving, now, minValidMs) ??
        (!serving.checkIssued(currentCa) || !serving.verify(currentCa.publicKey)
          ? "not issued by the current CA"
          : undefined) ??
        missingNames(serving, ips, dnsNames));
  if (servingProblem) {
    await makeServing(dir, caFile, caKey, certFile, keyFile, ips, dnsNames, opts.validDays ?? 365);
    made.push(`serving certificate (${servingProblem})`);
  }
  return { caFile, certFile, keyFile, made };
}

function readCert(file: string): X509Certificate | undefined {
  try {
    return new X509Certificate(readFileSync(file));
  } catch {
    return undefined;
  }
}

function expiresSoon(cert: X509Certificate, now: number, minValidMs: number): string | undefined {
  const left = Date.parse(cert.validTo) - now;
  return left < minValidMs
    ? `expires ${cert.validTo}, less than ${Math.round(minValidMs / DAY_MS)} days left`
    : undefined;
}

function missingNames(
  cert: X509Certificate,
  ips: readonly string[],
  dnsNames: readonly string[],
): string | undefined {
  const san = cert.subjectAltName ?? "";
  const missing = [
    ...ips.map((ip) => `IP Address:${ip}`),
    ...dnsNames.map((d) => `DNS:${d}`),
  ].filter((n) => !san.split(", ").includes(n));
  return missing.length ? `does not cover ${missing.join(", ")}` : undefined;
}

async function openssl(args: readonly string[]): Promise<void> {
  await runCommand("openssl", args, { timeoutMs: OPENSSL_TIMEOUT_MS });
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

async function makeCa(dir: string, caFile: string, caKey: string, days: number): Promise<void> {
  const tmpCert = join(dir, ".ca.crt.tmp");
  const tmpKey = join(dir, ".ca.key.tmp");
  await openssl([
    "req",
    "-x509",
    ...EC_KEY,
    "-keyout",
    tmpKey,
    "-out",
    tmpCert,
    "-days",
    String(days),
    "-subj",
    "/CN=gridvm-admission-ca",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  chmodSync(tmpKey, 0o600);
  renameSync(tmpKey, caKey);
  renameSync(tmpCert, caFile);
}

async function makeServing(
  dir: string,
  caFile: string,
  caKey: string,
  certFile: string,
  keyFile: string,
  ips: readonly string[],
  dnsNames: readonly string[],
  days: number,
): Promise<void> {
  const csr = join(dir, ".tls.csr.tmp");
  const ext = join(dir, ".tls.ext.tmp");
  const tmpCert = join(dir, ".tls.crt.tmp");
  const tmpKey = join(dir, ".tls.key.tmp");
  const san = [...ips.map((ip) => `IP:${ip}`), ...dnsNames.map((d) => `DNS:${d}`)].join(",");
  writeFileSync(
    ext,
    `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n`,
  );
  try {
    await openssl([
      "req",
      "-new",
      ...EC_KEY,
      "-keyout",
      tmpKey,
      "-out",
      csr,
      "-subj",
      "/CN=gridvm-admission",
    ]);
    await openssl([
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      caFile,
      "-CAkey",
      caKey,
      "-set_serial",
      `0x${randomBytes(16).toString("hex")}`,
      "-days",
      String(days),
      "-extfile",
      ext,
      "-out",
      tmpCert,
    ]);
    chmodSync(tmpKey, 0o600);
    // Key first: a reader that sees the new certificate must find its key.
    renameSync(tmpKey, keyFile);
    renameSync(tmpCert, certFile);
  } finally {
    rmSync(csr, { force: true });
    rmSync(ext, { force: true });
  }
}
