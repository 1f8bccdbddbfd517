// Forwards a Unix socket to a TCP port. Started with `ip netns exec <ns> node unix-forward.mjs
// SOCKET HOST PORT` so a test in the root namespace can reach a daemon inside a namespace without
// any address outside it. Prints "ready" once listening.
import net from "node:net";
import process from "node:process";

const [sock, host, port] = process.argv.slice(2);
const server = net.createServer((client) => {
  const upstream = net.connect(Number(port), host);
  const drop = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on("error", drop).on("close", drop);
  upstream.on("error", drop).on("close", drop);
  client.pipe(upstream);
  upstream.pipe(client);
});
server.listen(sock, () => process.stdout.write("ready\n"));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
