import { join } from "node:path";
import { repoRoot } from "../../controller/api/crd-schemas.js";

/** Where the local cluster's state lives; the same rule as hack/lib/common.sh. */
export const ROOT = repoRoot();
export const STATE_DIR = process.env.GRIDVM_STATE ?? join(ROOT, ".local");
export const KUBE_VERSION = process.env.KUBE_VERSION ?? "v1.35.4";
export const KUBE_BIN = join(
  process.env.GRIDVM_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? "/root", ".cache"), "gridvm"),
  `kube-${KUBE_VERSION}`,
  "bin",
);
export const ADMIN_KUBECONFIG = join(STATE_DIR, "kubeconfig");
export const userKubeconfig = (user: string): string => join(STATE_DIR, "users", `${user}.kubeconfig`);
