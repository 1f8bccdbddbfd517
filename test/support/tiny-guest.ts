import { join } from "node:path";
import { TINY_GUEST_CMDLINE } from "../../node-agent/qemu/accel-probe.js";

/** Where hack/local-up.sh puts the tiny guest for the cluster's templates (inside the images root). */
export const TINY_GUEST_IMAGES = "/var/lib/gridvm/images/tiny-guest";

/**
 * A derivable VMTemplate on the paper's lab1 that boots the tiny guest (128Mi, one 64Mi disc).
 * `initrd` and `extraCmdline` let a test boot its own initramfs overlay and pass it settings.
 */
export function tinyGuestTemplate(name: string, boot: { initrd?: string; extraCmdline?: string } = {}) {
  return {
    apiVersion: "gridvm.io/v1alpha1",
    kind: "VMTemplate",
    metadata: { name },
    spec: {
      vmGroup: "lab1",
      derivable: true,
      resources: { memory: "128Mi" },
      disks: [{ name: "root", size: "64Mi" }],
      boot: {
        kernel: join(TINY_GUEST_IMAGES, "vmlinuz"),
        initrd: boot.initrd ?? join(TINY_GUEST_IMAGES, "initramfs.gz"),
        cmdline: boot.extraCmdline ? `${TINY_GUEST_CMDLINE} ${boot.extraCmdline}` : TINY_GUEST_CMDLINE,
      },
    },
  };
}
