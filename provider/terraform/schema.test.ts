import { VM_OUTPUT_FIELDS } from "../outputs";
import { DISK_FIELDS, NETWORK_FIELDS, VM_FIELDS } from "../../sdk/protocol";
import { fieldsWithEffect, secretFields } from "../../sdk/protocol/fields";
import { CONNECTION_FIELDS } from "../connection";
import { PROVIDER, RESOURCES, snake } from "./schema";
import { planChange } from "./provider";
import { decodeValue, UNKNOWN } from "./values";

test("names are snake_case with units as one word", () => {
  expect(snake("sizeGiB")).toBe("size_gib");
  expect(snake("memoryMiB")).toBe("memory_mib");
  expect(snake("privateKeyPath")).toBe("private_key_path");
  expect(snake("name")).toBe("name");
});

test.each([
  ["kvm_vm", VM_FIELDS],
  ["kvm_disk", DISK_FIELDS],
  ["kvm_network", NETWORK_FIELDS],
] as const)("%s: every field of its table, sensitive and requires-replace where the table says", (type, table) => {
  const attrs = RESOURCES[type]!.schema.attributes;
  const byKey = new Map(attrs.map((a) => [a.key, a]));
  for (const k of Object.keys(table)) expect(byKey.get(k)?.name).toBe(snake(k));
  expect(attrs.filter((a) => a.sensitive).map((a) => a.key)).toEqual(secretFields(table));
  expect(attrs.filter((a) => a.replaces).map((a) => a.key)).toEqual(fieldsWithEffect(table, "replace"));
});

test("the provider block is the connection table", () => {
  expect(PROVIDER.attributes.map((a) => a.key)).toEqual(Object.keys(CONNECTION_FIELDS));
  expect(PROVIDER.attributes.filter((a) => a.sensitive).map((a) => a.key)).toEqual(secretFields(CONNECTION_FIELDS));
});

test("a plan keeps the host's value of a computed field and replaces on a replace field", () => {
  const s = RESOURCES.kvm_disk!.schema;
  const outputs = { path: "/d/d-1.qcow2", virtual_size_bytes: 2 ** 30, actual_size_bytes: 196608, backing_file: null, attached_to: null };
  const prior = { id: "d-1", host_id: "h", host: "root@x:22", name: "d1", size_gib: 1, format: "qcow2", source: null, timeout_seconds: 3600, timeouts: null, ...outputs };
  const config = { ...prior, id: null, host_id: null, host: null, format: null, timeout_seconds: null, ...Object.fromEntries(Object.keys(outputs).map((k) => [k, null])) };
  const same = planChange(s, prior, { ...config }, config);
  expect(decodeValue(same.plannedState.msgpack)).toEqual(prior);
  expect(same.requiresReplace).toEqual([]);
  const renamed = planChange(s, prior, { ...config, name: "d2" }, { ...config, name: "d2" });
  expect(renamed.requiresReplace).toEqual([{ steps: [{ attributeName: "name" }] }]);
  expect((decodeValue(renamed.plannedState.msgpack) as Record<string, unknown>).id).toBe(UNKNOWN);
});

test("a resource's outputs are read-only attributes: kept when nothing changes, unknown (known after apply) when anything does", () => {
  const s = RESOURCES.kvm_vm!.schema;
  const outs = s.attributes.filter((a) => a.output);
  expect(outs.map((a) => a.key)).toEqual(Object.keys(VM_OUTPUT_FIELDS));
  expect(outs.every((a) => a.computed && !a.optional && !a.required)).toBe(true);
  expect(outs.find((a) => a.name === "ip_address")?.type).toBe("string");
  const prior = { id: "v-1", host_id: "h", host: "x", name: "v", memory_mib: 128, ip_address: "10.0.0.5", pid: 42, state: "running" };
  const config = { name: "v", memory_mib: 128 };
  const same = decodeValue(planChange(s, prior, config, config).plannedState.msgpack) as Record<string, unknown>;
  expect([same.ip_address, same.pid, same.state]).toEqual(["10.0.0.5", 42, "running"]);
  const more = { ...config, memory_mib: 256 };
  const grown = decodeValue(planChange(s, prior, more, more).plannedState.msgpack) as Record<string, unknown>;
  expect([grown.memory_mib, grown.ip_address, grown.pid, grown.state, grown.id]).toEqual([256, UNKNOWN, UNKNOWN, UNKNOWN, "v-1"]);
});

test("a value the host filled in (a default inside a list, a MAC) is no diff; a real change is", () => {
  const s = RESOURCES.kvm_vm!.schema;
  const hostHas = [{ network: "n", mac: "52:54:00:00:00:01", ip: null, model: "virtio", type: null, port_forwards: null }];
  const wrote = [{ network: "n", mac: null, ip: null, model: null, type: null, port_forwards: null }];
  const prior = { id: "v-1", host_id: "h", host: "x", name: "v", network_interfaces: hostHas, memory_mib: 128 };
  const config = { name: "v", network_interfaces: wrote, memory_mib: 128 };
  const same = decodeValue(planChange(s, prior, config, config).plannedState.msgpack) as Record<string, unknown>;
  expect(same.network_interfaces).toEqual(hostHas);
  const other = [{ ...wrote[0], network: "m" }];
  const moved = decodeValue(planChange(s, prior, { ...config, network_interfaces: other }, { ...config, network_interfaces: other }).plannedState.msgpack) as Record<string, unknown>;
  expect(moved.network_interfaces).toEqual(other);
});

test("object unions are one object type whose attributes are all optional", () => {
  const nics = RESOURCES.kvm_vm!.schema.attributes.find((a) => a.name === "network_interfaces")!.type as [string, [string, Record<string, unknown>, string[]]];
  expect(nics[0]).toBe("list");
  expect(Object.keys(nics[1][1]).sort()).toEqual(["ip", "mac", "model", "network", "port_forwards", "type"]);
  expect(nics[1][2].sort()).toEqual(Object.keys(nics[1][1]).sort());
});
