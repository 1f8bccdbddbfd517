/** Everything qemu needs to run one VM on this host. */
export interface QemuSpec {
  name: string;
  accel: "kvm" | "tcg";
  memoryMiB: number;
  cpus: number;
  /** Virtio discs, in boot order. */
  disks: { name: string; path: string; format: "qcow2" | "raw" }[];
  cdrom?: string;
  /** Direct kernel boot, e.g. the tiny test guest. */
  boot?: { kernel: string; initrd?: string; cmdline?: string };
  net: { tap: string; mac: string };
  vnc: { listen: string; display: number };
  files: { pidFile: string; qmpSocket: string; serialLog: string };
  /** An extra serial port as a unix socket (the tiny guest's command channel). */
  serialSocket?: string;
  /** TCG translation cache in MiB; the default (1 GiB reserve) dominates a small guest's RSS. */
  tcgTbSizeMiB?: number;
}

/**
 * The qemu argv for one VM. Pure. No -daemonize: it cannot be combined with -sandbox spawn=deny
 * (FACTS.md); the launcher detaches the process instead. `password=on` keeps VNC closed until a
 * password is set over QMP.
 */
export function qemuArgs(spec: QemuSpec): string[] {
  const args = [
    "-name",
    `${spec.name},debug-threads=off`,
    "-nodefaults",
    "-no-user-config",
    "-machine",
    "q35",
    "-accel",
    spec.accel === "tcg" ? `tcg,tb-size=${spec.tcgTbSizeMiB ?? 32}` : "kvm",
    ...(spec.accel === "kvm" ? ["-cpu", "host"] : []),
    "-m",
    String(spec.memoryMiB),
    "-smp",
    String(spec.cpus),
    "-sandbox",
    "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
    "-pidfile",
    spec.files.pidFile,
    "-qmp",
    `unix:${spec.files.qmpSocket},server=on,wait=off`,
    "-display",
    "none",
    "-vga",
    "std",
    "-vnc",
    `${spec.vnc.listen}:${spec.vnc.display},password=on`,
    "-serial",
    `file:${spec.files.serialLog}`,
  ];
  if (spec.serialSocket) args.push("-serial", `unix:${spec.serialSocket},server=on,wait=off`);
  spec.disks.forEach((d, i) => {
    args.push(
      "-blockdev",
      `driver=file,filename=${escapeOpt(d.path)},node-name=file${i}`,
      "-blockdev",
      `driver=${d.format},file=file${i},node-name=disk${i}`,
      "-device",
      `virtio-blk-pci,drive=disk${i},id=${escapeOpt(d.name)},bootindex=${i + 1}`,
    );
  });
  if (spec.cdrom) {
    args.push("-drive", `file=${escapeOpt(spec.cdrom)},media=cdrom,readonly=on,if=ide`);
  }
  if (spec.boot) {
    args.push("-kernel", spec.boot.kernel);
    if (spec.boot.initrd) args.push("-initrd", spec.boot.initrd);
    if (spec.boot.cmdline) args.push("-append", spec.boot.cmdline);
  }
  args.push(
    "-netdev",
    `tap,id=net0,ifname=${spec.net.tap},script=no,downscript=no`,
    "-device",
    `virtio-net-pci,netdev=net0,mac=${spec.net.mac}`,
  );
  return args;
}

/** qemu's option syntax: a comma inside a value is written twice. */
function escapeOpt(v: string): string {
  return v.replace(/,/g, ",,");
}
