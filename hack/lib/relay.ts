/**
 * A byte relay between a unix socket and a TCP port, to reach the local apiserver (bound to the
 * head's 127.0.0.1) from inside a simulated host's network namespace: a unix socket is visible
 * from every network namespace, a loopback port is not. TLS passes through untouched, so the
 * kubeconfigs (server https://127.0.0.1:PORT) work unchanged inside the hosts.
 *
 *   relay.ts unix-to-tcp SOCKET HOST PORT   (head side: serve SOCKET, connect to HOST:PORT)
 *   relay.ts tcp-to-unix HOST PORT SOCKET   (host side: serve HOST:PORT, connect to SOCKET)
 */
import { rmSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";

const [mode, a, b, c] = process.argv.slice(2);

function pipe(client: Socket, upstream: Socket): void {
  client.pipe(upstream).pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on("error", close).on("close", close);
  upstream.on("error", close).on("close", close);
}

if (mode === "unix-to-tcp" && a && b && c) {
  rmSync(a, { force: true });
  createServer((s) => pipe(s, connect(Number(c), b))).listen(a);
} else if (mode === "tcp-to-unix" && a && b && c) {
  createServer((s) => pipe(s, connect(c))).listen(Number(b), a);
} else {
  process.stderr.write(
    "usage: relay.ts unix-to-tcp SOCKET HOST PORT | tcp-to-unix HOST PORT SOCKET\n",
  );
  process.exit(2);
}
