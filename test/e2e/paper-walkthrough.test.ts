// The paper's section 5.1, command for command, through each user's own kubeconfig, on real parts:
// kube-apiserver + admission webhook, the controller, Grid Engine on simulated hosts, the node
// agent, ebtables, dnsmasq and a real guest under qemu.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { VMInstance } from "../../controller/api/generated/types.js";
import { isLive } from "../../controller/batch/batch-backend.js";
import { runCommand } from "../../controller/machinery/command.js";
import { runKey } from "../../node-agent/agent/desired.js";
import { vmPaths } from "../../node-agent/qemu/runtime-dir.js";
import { gridEngine } from "../support/cluster.js";
import { kubectl } from "../support/kube.js";
import { ROOT, STATE_DIR } from "../support/paths.js";
import { vncHandshake } from "../support/vnc.js";
import { waitFor } from "../support/wait.js";

const LAB = join(ROOT, "examples/paper-lab");
const as = (user: string, args: string[], okExitCodes?: number[]) => kubectl(args, { user, okExitCodes });
const myvm = async (): Promise<VMInstance> => JSON.parse((await as("doraz", ["get", "vminstance", "myvm", "-o", "json"])).stdout) as VMInstance;
const patch = (user: string, spec: object, ok?: number[]) => as(user, ["patch", "vminstance", "myvm", "--type=merge", "-p", JSON.stringify({ spec })], ok);

/** The paper's MAC convention: the prefix, then the IP's last 16 bits in hex. */
function paperMac(prefix: string, ip: string): string {
  const [, , c, d] = ip.split(".").map(Number);
  return `${prefix}:${c!.toString(16).padStart(2, "0")}:${d!.toString(16).padStart(2, "0")}`;
}

beforeAll(async () => {
  // Users and their namespaces (the paper's useradd / vmapp --uadd): the cluster admin's part.
  await kubectl(["apply", "-f", join(LAB, "00-users.yaml")]);
  // A clean slate for doraz's myvm (a demo or another test may have made one).
  await kubectl(["delete", "vminstance", "myvm", "-n", "doraz", "--ignore-not-found", "--wait=false"]);
  await waitFor("no myvm left", async () => (await kubectl(["get", "vminstance", "myvm", "-n", "doraz", "--ignore-not-found", "-o", "name"])).stdout === "", 180_000);
});

afterAll(async () => {
  await kubectl(["delete", "vminstance", "myvm", "-n", "doraz", "--ignore-not-found", "--wait=false"]);
});

describe("the paper's section 5.1 walkthrough", () => {
  it("badadmin sets up lab1, gsr-vm and the studs permission (derive + forced isolation)", async () => {
    for (const f of ["10-vmgroup-lab1.yaml", "20-vmtemplate-gsr-vm.yaml", "30-permission-studs-gsr-vm.yaml"]) await as("badadmin", ["apply", "-f", join(LAB, f)]);
    await waitFor("gsr-vm's disc", async () => (await as("badadmin", ["get", "vmtemplate", "gsr-vm", "-o", "jsonpath={.status.phase}"])).stdout === "Ready");
    await waitFor("the permission's target found", async () => (await as("badadmin", ["get", "permission", "studs-gsr-vm", "-o", 'jsonpath={.status.conditions[?(@.type=="TargetFound")].status}'])).stdout === "True");
    // vmapp --permlist as a student: doraz reads the catalogue, but may not grant herself anything.
    expect((await as("doraz", ["get", "vmtemplates", "-o", "name"])).stdout).toContain("vmtemplate.gridvm.io/gsr-vm");
    const grab = await as("doraz", ["patch", "permission", "studs-gsr-vm", "--type=merge", "-p", '{"spec":{"forceIsolated":false}}'], [1]);
    expect(grab.stderr).toMatch(/User "doraz" cannot (get|patch) resource "permissions" in API group "gridvm.io"/);
  });

  it("doraz derives gsr-vm as myvm (vmapp --vmadd --name myvm --base gsr_vm)", async () => {
    const manifest = parse(await readFile(join(LAB, "40-vminstance-doraz-myvm.yaml"), "utf8")) as VMInstance;
    delete manifest.spec.owner; // she does not say who she is: admission stamps it
    manifest.spec.running = false;
    manifest.spec.isolated = false;
    await kubectl(["create", "-f", "-"], { user: "doraz", input: JSON.stringify(manifest) });
    const derived = await waitFor("myvm's overlay", async () => {
      const i = await myvm();
      return i.status?.disks?.[0]?.backingPath ? i : undefined;
    });
    expect(derived.spec.owner).toBe("doraz");
    expect(derived.status!.disks![0]!.path).toMatch(/\/users\/doraz\/doraz\.myvm\.root\.qcow2$/);
    expect(derived.status!.phase).toBe("Stopped");
  });

  it("running it unisolated is refused with the paper's meaning (vmapp --vmrun --vm myvm)", async () => {
    const refused = await patch("doraz", { running: true, isolated: false }, [1]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain('user "doraz" may not run vminstance "myvm" unisolated: permission "studs-gsr-vm" forces isolation');
    expect((await myvm()).spec.running).toBe(false); // nothing half-applied
  });

  it("isolated, it runs on a simulated host with a lab1 address, the paper's MAC, a real DHCP lease and a VNC console", async () => {
    await patch("doraz", { running: true, isolated: true });
    const vm = await waitFor(
      "myvm Running with a VNC endpoint",
      async () => {
        const i = await myvm();
        return i.status?.phase === "Running" && i.status.vnc?.endpoint ? i : undefined;
      },
      240_000,
      1_000,
    );
    const { ip, mac, tap } = vm.status!.network!;
    expect(vm.status!.host).toMatch(/^gvm-h\d+$/);
    const last = Number(ip!.split(".")[3]);
    expect(ip!.startsWith("192.168.100.") && last >= 2 && last <= 254).toBe(true);
    expect(mac).toBe(paperMac("de:af:de:af", ip!));
    expect(vm.status!.network!.isolated).toBe(true);
    // The guest itself asked dnsmasq and got exactly that address.
    const consoleLog = vmPaths(join(STATE_DIR, "run", "hosts", vm.status!.host!, "vms"), runKey(vm.status!.job!.name!)).serialLog;
    await waitFor("the guest's DHCP lease", async () => (await readFile(consoleLog, "utf8").catch(() => "")).includes(`GRIDVM-DHCP-OK ${ip}`), 120_000, 1_000);
    // vmapp: "Your vm is accessible via host ... vnc port 5901": a VNC client on the head gets in
    // with the password from her Secret, and only with it (VNC authentication only).
    const hello = await vncHandshake(vm.status!.vnc!.endpoint!);
    expect(hello.version).toBe("RFB 003.008");
    expect(hello.securityTypes).toEqual([2]);
    const password = Buffer.from((await as("doraz", ["get", "secret", vm.status!.vnc!.passwordSecret!, "-o", "jsonpath={.data.password}"])).stdout, "base64").toString();
    expect(password.length).toBeGreaterThanOrEqual(8);
    expect(tap).toMatch(/^gvt[0-9a-f]{12}$/);
    // `kubectl get vminstances` is the paper's `vmapp --maplist`.
    const row = (await as("doraz", ["get", "vminstances"])).stdout.split("\n").find((l) => l.startsWith("myvm"));
    expect(row).toMatch(new RegExp(`^myvm\\s+doraz\\s+Running\\s+${vm.status!.host}\\s+${ip!.replace(/\./g, "\\.")}\\s+${vm.status!.vnc!.endpoint}\\s+true`));
  });

  it("alex cannot see it (users see only their own VMs)", async () => {
    const get = await as("alex", ["get", "vminstance", "myvm", "-n", "doraz"], [1]);
    expect(get.stderr).toMatch(/User "alex" cannot get resource "vminstances" in API group "gridvm.io" in the namespace "doraz"/);
    const secret = await as("alex", ["get", "secret", "myvm-vnc", "-n", "doraz"], [1]);
    expect(secret.stderr).toMatch(/User "alex" cannot get resource "secrets"/);
  });

  it("stopping it frees everything: job, address, DHCP entry, tap, console", async () => {
    const before = await myvm();
    await patch("doraz", { running: false });
    const stopped = await waitFor("myvm Stopped", async () => {
      const i = await myvm();
      return i.status?.phase === "Stopped" ? i : undefined;
    }, 180_000, 1_000);
    expect(stopped.status?.network?.ip).toBeUndefined();
    expect(stopped.status?.vnc).toBeUndefined();
    const jobs = (await gridEngine().list()).filter((j) => j.name === before.status!.job!.name && isLive(j.phase));
    expect(jobs).toEqual([]);
    const links = await runCommand("ip", ["-n", before.status!.host!, "-o", "link", "show"], { timeoutMs: 10_000 });
    expect(links.stdout).not.toContain(before.status!.network!.tap!);
    // dnsmasq's static entry (one file per tap in its --dhcp-hostsdir) is gone too.
    const entry = join(STATE_DIR, "run", "hosts", before.status!.host!, "agent", "dhcp", "vbr0", "hosts", before.status!.network!.tap!);
    await expect(readFile(entry, "utf8")).rejects.toThrow(/ENOENT/);
  });
});
