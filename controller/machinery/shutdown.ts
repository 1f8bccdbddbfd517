import type { Logger } from "./log.js";

/**
 * Ordered graceful stop on SIGTERM/SIGINT. Steps run one after another in the order registered —
 * register them in the order they must stop: e.g. mark not-ready, stop leading (release the
 * Lease), drain work queues, stop informers, close the HTTP server. Each step has a deadline so a
 * stuck one cannot keep the process alive past the kubelet's grace period; a second signal exits
 * at once.
 */
export interface ShutdownStep {
  name: string;
  run: () => void | Promise<void>;
  timeoutMs?: number;
}

export class Shutdown {
  private readonly steps: ShutdownStep[] = [];
  private running: Promise<void> | undefined;
  private readonly listeners: [NodeJS.Signals, () => void][] = [];

  constructor(
    private readonly log?: Logger,
    private readonly defaultStepTimeoutMs = 10_000,
  ) {}

  /** Appends a step; steps run in registration order. */
  register(step: ShutdownStep): this {
    this.steps.push(step);
    return this;
  }

  isShuttingDown(): boolean {
    return this.running !== undefined;
  }

  /** Runs every step once (later calls get the same promise). Failures are logged, not fatal. */
  run(reason = "requested"): Promise<void> {
    this.running ??= (async () => {
      this.log?.info({ reason }, "shutting down");
      for (const step of this.steps) {
        const limit = step.timeoutMs ?? this.defaultStepTimeoutMs;
        let timer: NodeJS.Timeout | undefined;
        const started = Date.now();
        try {
          await Promise.race([
            Promise.resolve().then(step.run),
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(new Error(`timed out after ${limit} ms`)), limit);
            }),
          ]);
          this.log?.info({ step: step.name, ms: Date.now() - started }, "stopped");
        } catch (err) {
          this.log?.error({ step: step.name, err: String(err) }, "shutdown step failed");
        } finally {
          clearTimeout(timer);
        }
      }
    })();
    return this.running;
  }

  /** Installs signal handlers: first signal -> run() then exit(0); second -> exit(1) at once. */
  listen(
    signals: NodeJS.Signals[] = ["SIGTERM", "SIGINT"],
    exit: (code: number) => void = process.exit,
  ): void {
    for (const signal of signals) {
      const handler = (): void => {
        if (this.running) {
          this.log?.warn({ signal }, "second signal, exiting now");
          return exit(1);
        }
        void this.run(signal).then(() => exit(0));
      };
      process.on(signal, handler);
      this.listeners.push([signal, handler]);
    }
  }

  /** Removes the signal handlers (tests). */
  unlisten(): void {
    for (const [signal, handler] of this.listeners.splice(0)) process.off(signal, handler);
  }
}
