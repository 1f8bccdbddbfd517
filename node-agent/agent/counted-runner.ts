import type { HostRunner } from "../exec/host-runner.js";

/** Counts the host commands and API writes the agent makes: a steady state should make none. */
export class Counters {
  execCalls = 0;
  apiWrites = 0;
  passes = 0;
}

export function countedRunner(inner: HostRunner, counters: Counters): HostRunner {
  return {
    prefix: inner.prefix,
    run: (file, args, opts) => {
      counters.execCalls++;
      return inner.run(file, args, opts);
    },
  };
}
