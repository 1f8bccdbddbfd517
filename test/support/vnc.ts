import { connect } from "node:net";

/** The first steps of RFB from the head (root namespace): version line and security types. */
export function vncHandshake(endpoint: string): Promise<{ version: string; securityTypes: number[] }> {
  const [host, port] = endpoint.split(":");
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), host);
    let buf = Buffer.alloc(0);
    let sent = false;
    const timer = setTimeout(() => (s.destroy(), reject(new Error(`no RFB from ${endpoint}`))), 5_000);
    s.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!sent && buf.length >= 12) {
        sent = true;
        s.write("RFB 003.008\n");
      }
      if (buf.length >= 13 && buf.length >= 13 + buf[12]!) {
        clearTimeout(timer);
        s.destroy();
        resolve({ version: buf.subarray(0, 12).toString().trim(), securityTypes: [...buf.subarray(13, 13 + buf[12]!)] });
      }
    });
    s.on("error", (e) => (clearTimeout(timer), reject(e)));
  });
}
