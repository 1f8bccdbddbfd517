import { pino, type Logger } from "pino";

export type { Logger };

/**
 * Structured JSON logs on stderr (stdout stays free for command output). One root logger per
 * process; components take children with their own bindings, e.g. `log.child({ vminstance })`.
 */
export function createLogger(component: string, level = process.env.GRIDVM_LOG_LEVEL ?? "info"): Logger {
  return pino({ level, base: { component } }, pino.destination(2));
}
