/**
 * A table of invalid manifests, each with the field the refusal must name. Shared by the offline
 * validator's unit test and the integration test that sends each to the real apiserver, so the
 * two can be proved to agree.
 */

const API = "gridvm.io/v1alpha1";

export interface InvalidCase {
  why: string;
  object: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; spec?: unknown };
  /** The field path (apiserver notation) the refusal must name. */
  field: string;
}

const suffix = Math.random().toString(36).slice(2, 7);
const name = (base: string): string => `bad-${base}-${suffix}`;

const group = (spec: Record<string, unknown>, base: string) => ({
  apiVersion: API,
  kind: "VMGroup",
  metadata: { name: name(base) },
  spec: { addresses: "10.77.0.2-10.77.0.254", gateway: { ip: "10.77.0.1", mac: "00:15:5d:00:00:01" }, ...spec },
});
const template = (spec: Record<string, unknown>, base: string) => ({
  apiVersion: API,
  kind: "VMTemplate",
  metadata: { name: name(base) },
  spec: { vmGroup: "lab1", resources: { memory: "1Gi" }, disks: [{ name: "root", size: "5Gi" }], ...spec },
});
const permission = (spec: Record<string, unknown>, base: string) => ({
  apiVersion: API,
  kind: "Permission",
  metadata: { name: name(base) },
  spec: { subjects: [{ kind: "Group", name: "studs" }], target: { template: "gsr-vm" }, allow: ["derive"], ...spec },
});
const instance = (spec: Record<string, unknown>, base: string, namespace: string) => ({
  apiVersion: API,
  kind: "VMInstance",
  metadata: { name: name(base), namespace },
  spec: { template: "gsr-vm", ...spec },
});

/** Cases for VMInstances are created in `namespace` (it must exist for the server test). */
export function invalidManifests(namespace: string): InvalidCase[] {
  const gw = { ip: "10.77.0.1", mac: "00:15:5d:00:00:01" };
  return [
    { why: "an address that is no IPv4", object: group({ addresses: "10.77.0.2-10.77.300.1" }, "ip"), field: "spec.addresses" },
    { why: "a range whose first address is after its last", object: group({ addresses: "10.77.0.254-10.77.0.2" }, "reversed"), field: "spec.addresses" },
    { why: "a range of more than 65536 addresses", object: group({ addresses: "10.0.0.1-10.1.0.1", prefixLength: 8, gateway: { ip: "10.255.255.254", mac: gw.mac } }, "huge"), field: "spec.addresses" },
    { why: "prefixLength beside a CIDR", object: group({ addresses: "10.77.0.0/24", prefixLength: 24 }, "prefix"), field: "spec.prefixLength" },
    { why: "a gateway outside the CIDR", object: group({ addresses: "10.77.0.0/24", gateway: { ip: "10.78.0.1", mac: gw.mac } }, "gwcidr"), field: "spec.gateway.ip" },
    { why: "a gateway inside the range it would be handed out from", object: group({ gateway: { ip: "10.77.0.9", mac: gw.mac } }, "gwin"), field: "spec.gateway.ip" },
    { why: "a gateway in another subnet than the range", object: group({ gateway: { ip: "10.77.1.1", mac: gw.mac } }, "gwnet"), field: "spec.gateway.ip" },
    { why: "an upper-case gateway MAC", object: group({ gateway: { ip: gw.ip, mac: "00:15:5D:00:00:01" } }, "gwmac"), field: "spec.gateway.mac" },
    { why: "a multicast MAC prefix", object: group({ macPrefix: "df:af:de:af" }, "mcast"), field: "spec.macPrefix" },
    { why: "OMAPI mode without a server", object: group({ dhcp: { mode: "OMAPI" } }, "omapi"), field: "spec.dhcp.omapi" },
    { why: "an unknown DHCP mode", object: group({ dhcp: { mode: "dhcpd" } }, "dhcpmode"), field: "spec.dhcp.mode" },
    { why: "no gateway", object: { ...group({}, "nogw"), spec: { addresses: "10.77.0.2-10.77.0.254" } }, field: "spec.gateway" },
    { why: "a bridge name longer than Linux allows", object: group({ bridge: "bridge-name-16ch" }, "bridge"), field: "spec.bridge" },
    { why: "an unknown field", object: group({ subnet: "10.77.0.0/24" }, "unknown"), field: "spec.subnet" },
    { why: "memory in an unknown unit", object: template({ resources: { memory: "2GB" } }, "memunit"), field: "spec.resources.memory" },
    { why: "less memory than any guest needs", object: template({ resources: { memory: "32Mi" } }, "memsmall"), field: "spec.resources.memory" },
    { why: "a disc with both size and source", object: template({ disks: [{ name: "root", size: "1Gi", source: { path: "/srv/gridvm/import/a.qcow2" } }] }, "both"), field: "spec.disks[0]" },
    { why: "a disc with neither size nor source", object: template({ disks: [{ name: "root" }] }, "neither"), field: "spec.disks[0]" },
    { why: "two discs of one name", object: template({ disks: [{ name: "root", size: "1Gi" }, { name: "root", size: "2Gi" }] }, "dupdisk"), field: "spec.disks[1]" },
    { why: "a relative image path", object: template({ disks: [{ name: "root", source: { path: "import/a.qcow2" } }] }, "relpath"), field: "spec.disks[0].source.path" },
    { why: "an image path climbing out with ..", object: template({ disks: [{ name: "root", source: { path: "/srv/gridvm/import/../../etc/shadow" } }] }, "dotdot"), field: "spec.disks[0].source.path" },
    { why: "no discs at all", object: template({ disks: [] }, "nodisks"), field: "spec.disks" },
    { why: "zero cpus", object: template({ resources: { memory: "1Gi", cpus: 0 } }, "cpus"), field: "spec.resources.cpus" },
    { why: "an initrd without a kernel", object: template({ boot: { initrd: "/boot/initrd.img" } }, "initrd"), field: "spec.boot" },
    { why: "a VM group name in upper case", object: template({ vmGroup: "Lab1" }, "groupname"), field: "spec.vmGroup" },
    { why: "no subjects", object: permission({ subjects: [] }, "nosubj"), field: "spec.subjects" },
    { why: "a target naming both a template and a group", object: permission({ target: { template: "gsr-vm", vmGroup: "lab1" } }, "both"), field: "spec.target" },
    { why: "a target naming nothing", object: permission({ target: {} }, "notarget"), field: "spec.target" },
    { why: "an unknown verb", object: permission({ allow: ["delete"] }, "verb"), field: "spec.allow[0]" },
    { why: "a permission that grants, forces and limits nothing", object: permission({ allow: [] }, "empty"), field: "spec" },
    { why: "a subject kind Kubernetes has no such thing as", object: permission({ subjects: [{ kind: "ServiceAccount", name: "x" }] }, "subjkind"), field: "spec.subjects[0].kind" },
    { why: "a verb named twice", object: permission({ allow: ["run", "run"] }, "dupverb"), field: "spec.allow[1]" },
    { why: "no template", object: { ...instance({}, "notemplate", namespace), spec: { running: true } }, field: "spec.template" },
    { why: "writing a template's discs with a policy that deletes them", object: instance({ diskMode: "Template", diskPolicy: "Delete" }, "tpldelete", namespace), field: "spec.diskPolicy" },
    { why: "a time limit in words", object: instance({ timeLimit: "2 hours" }, "tlwords", namespace), field: "spec.timeLimit" },
    { why: "a time limit under a minute", object: instance({ timeLimit: "30s" }, "tlshort", namespace), field: "spec.timeLimit" },
    { why: "a relative ISO path", object: instance({ cdrom: "iso/x.iso" }, "cdrom", namespace), field: "spec.cdrom" },
    { why: "isolated as a string", object: instance({ isolated: "yes" }, "isostr", namespace), field: "spec.isolated" },
    { why: "a name that is no DNS subdomain", object: { ...instance({}, "x", namespace), metadata: { name: "My_VM", namespace } }, field: "metadata.name" },
  ];
}
