#!/usr/bin/env node
/**
 * The admission webhook on its own, until the controller binary embeds it:
 *   main.ts serve          --port 16444 --cert-dir DIR --kubeconfig FILE [--admin-group G ...]
 *   main.ts configurations --port 16444 --cert-dir DIR [--name N]   (JSON List for kubectl apply)
 *   main.ts certs          --cert-dir DIR                          (make/rotate, then exit)
 */
import { readFileSync } from "node:fs";
import { KubeConfig } from "@kubernetes/client-node";
import { Command, Option } from "commander";
import { DEFAULT_ADMIN_GROUPS } from "../authorization/evaluate.js";
import { createLogger } from "../machinery/log.js";
import { ensureCertificates } from "./certs.js";
import { webhookConfigurations } from "./configurations.js";
import { ApiFactSource, informerFacts, type FactSource } from "./facts.js";
import { startAdmissionServer } from "./server.js";

export const DEFAULT_CONFIGURATION_NAME = "gridvm-vminstance-admission";

const collect = (value: string, previous: string[] | undefined): string[] => [
  ...(previous ?? []),
  value,
];
const portOption = () => new Option("--port <port>", "HTTPS port on 127.0.0.1").default("16444");
const certDirOption = () =>
  new Option("--cert-dir <dir>", "where the CA and serving certificate live").makeOptionMandatory();

const program = new Command()
  .name("gridvm-admission")
  .description("gridvm's VMInstance admission webhook");

program
  .command("serve")
  .description("serve /mutate-vminstance and /validate-vminstance over HTTPS")
  .addOption(portOption())
  .addOption(certDirOption())
  .option("--host <address>", "address to listen on", "127.0.0.1")
  .addOption(
    new Option("--facts <mode>", "where reviews read Permissions, templates and instances from")
      .choices(["cache", "direct"])
      .default("cache"),
  )
  .option(
    "--kubeconfig <file>",
    "credentials to read Permissions, VMTemplates and VMInstances",
    process.env.KUBECONFIG,
  )
  .option(
    "--admin-group <group>",
    `a group whose members may do everything (repeatable; default ${DEFAULT_ADMIN_GROUPS.join(", ")})`,
    collect,
  )
  .action(
    async (opts: {
      facts: string;
      port: string;
      certDir: string;
      host: string;
      kubeconfig?: string;
      adminGroup?: string[];
    }) => {
      const log = createLogger("admission");
      const certs = await ensureCertificates(opts.certDir, {
        ips: [opts.host === "0.0.0.0" ? "127.0.0.1" : opts.host],
      });
      if (certs.made.length)
        log.info(
          { made: certs.made },
          "certificates made: re-apply the webhook configurations (new caBundle)",
        );
      const kc = new KubeConfig();
      if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
      else kc.loadFromDefault();
      const adminGroups = opts.adminGroup ?? [...DEFAULT_ADMIN_GROUPS];
      let facts: FactSource = new ApiFactSource(kc);
      let stopFacts = () => Promise.resolve();
      if (opts.facts === "cache") {
        const cached = await informerFacts(kc, log);
        facts = cached.source;
        stopFacts = cached.stop;
      }
      const server = await startAdmissionServer({
        port: Number(opts.port),
        host: opts.host,
        cert: readFileSync(certs.certFile),
        key: readFileSync(certs.keyFile),
        facts,
        adminGroups,
        log,
      });
      log.info({ port: server.port, adminGroups, facts: opts.facts }, "admission webhook serving");
      const stop = () => {
        log.info("stopping");
        void server
          .close()
          .then(stopFacts)
          .then(() => process.exit(0));
      };
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
    },
  );

program
  .command("configurations")
  .description(
    "print the webhook configurations (with the current CA) as a JSON List for kubectl apply",
  )
  .addOption(portOption())
  .addOption(certDirOption())
  .option("--name <name>", "metadata.name of both configurations", DEFAULT_CONFIGURATION_NAME)
  .option(
    "--namespace-label <key=value>",
    "only namespaces with this label (default: all namespaces)",
  )
  .action((opts: { port: string; certDir: string; name: string; namespaceLabel?: string }) => {
    const [key, value] = opts.namespaceLabel?.split("=", 2) ?? [];
    const items = webhookConfigurations({
      name: opts.name,
      baseUrl: `https://127.0.0.1:${opts.port}`,
      caPem: readFileSync(`${opts.certDir}/ca.crt`),
      ...(key ? { namespaceSelector: { matchLabels: { [key]: value ?? "" } } } : {}),
    });
    process.stdout.write(JSON.stringify({ apiVersion: "v1", kind: "List", items }, null, 2) + "\n");
  });

program
  .command("certs")
  .description(
    "make the CA and serving certificate, or rotate them when less than 30 days are left",
  )
  .addOption(certDirOption())
  .action(async (opts: { certDir: string }) => {
    const certs = await ensureCertificates(opts.certDir);
    console.error(
      certs.made.length ? `made: ${certs.made.join("; ")}` : "certificates still valid",
    );
  });

await program.parseAsync();
