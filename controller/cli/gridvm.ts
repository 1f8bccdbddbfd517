#!/usr/bin/env node
import { Command } from "commander";
import { validatePaths } from "./validate-command.js";

const program = new Command()
  .name("gridvm")
  .description("gridvm command-line tools (the cluster itself is driven with kubectl)");

program
  .command("validate")
  .description("validate gridvm manifests offline against the CRD schemas and CEL rules")
  .argument("<paths...>", "files or folders of YAML/JSON manifests")
  .option("-q, --quiet", "print problems only, no summary")
  .action((paths: string[], opts: { quiet?: boolean }) => {
    let report;
    try {
      report = validatePaths(paths);
    } catch (err) {
      console.error(`gridvm validate: ${(err as Error).message}`);
      process.exit(2);
    }
    for (const line of report.lines) console.log(line);
    if (!opts.quiet) {
      console.error(`gridvm validate: ${report.checked} gridvm object(s) checked, ${report.invalid} invalid`);
    }
    process.exit(report.invalid > 0 ? 1 : 0);
  });

program.parse();
