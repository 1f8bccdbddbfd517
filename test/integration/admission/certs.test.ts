import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ensureCertificates } from "../../../controller/admission/certs.js";

// Real openssl, a temporary directory; no cluster needed.
const dir = mkdtempSync(join(tmpdir(), "gridvm-certs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const DAY = 86_400_000;
const serial = () => new X509Certificate(readFileSync(join(dir, "tls.crt"))).serialNumber;

describe("ensureCertificates", () => {
  it("makes a CA and a serving certificate for 127.0.0.1 and localhost, issued by it", async () => {
    const made = await ensureCertificates(dir);
    expect(made.made).toEqual(["CA (missing)", "serving certificate (missing)"]);
    const ca = new X509Certificate(readFileSync(made.caFile));
    const cert = new X509Certificate(readFileSync(made.certFile));
    expect(ca.ca).toBe(true);
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.subjectAltName).toBe("IP Address:127.0.0.1, DNS:localhost");
  });

  it("keeps valid certificates", async () => {
    const before = serial();
    expect((await ensureCertificates(dir)).made).toEqual([]);
    expect(serial()).toBe(before);
  });

  it("rotates the serving certificate when less than 30 days are left", async () => {
    const before = serial();
    expect((await ensureCertificates(dir, { now: new Date(Date.now() + 340 * DAY) })).made).toEqual(
      [expect.stringMatching(/^serving certificate \(expires .*, less than 30 days left\)$/)],
    );
    expect(serial()).not.toBe(before);
    expect((await ensureCertificates(dir, { now: new Date(Date.now() + 300 * DAY) })).made).toEqual(
      [],
    );
  });

  it("remakes it for new addresses, and everything when the CA goes", async () => {
    expect((await ensureCertificates(dir, { ips: ["127.0.0.2"] })).made).toEqual([
      "serving certificate (does not cover IP Address:127.0.0.2)",
    ]);
    rmSync(join(dir, "ca.crt"));
    expect((await ensureCertificates(dir, { ips: ["127.0.0.2"] })).made).toEqual([
      "CA (missing)",
      "serving certificate (not issued by the current CA)",
    ]);
  });
});
