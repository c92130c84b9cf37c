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
  const prior = { id: "d-1", host_id: "h", host: "root@x:22", name: "d1", size_gib: 1, format: "qcow2", source: null, timeout_seconds: 3600, timeouts: null };
  const config = { ...prior, id: null, host_id: null, host: null, format: null, timeout_seconds: null };
  const same = planChange(s, prior, { ...config }, config);
  expect(decodeValue(same.plannedState.msgpack)).toEqual(prior);
  expect(same.requiresReplace).toEqual([]);
  const renamed = planChange(s, prior, { ...config, name: "d2" }, { ...config, name: "d2" });
  expect(renamed.requiresReplace).toEqual([{ steps: [{ attributeName: "name" }] }]);
  expect((decodeValue(renamed.plannedState.msgpack) as Record<string, unknown>).id).toBe(UNKNOWN);
});
