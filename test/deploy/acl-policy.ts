import type { AclPolicy, NamespaceCapability } from "../sim/index.js";
import { blocks, labeledBlocks, parseHclFile } from "./hcl.js";

const NAMESPACE_CAPABILITIES: readonly string[] = ["read-job", "submit-job", "scale-job", "list-jobs"];

/**
 * An ACL policy file (Nomad's HCL) in the Nomad simulator's terms, so tests run the monitor with
 * exactly the policy the README tells operators to apply. Rules the simulator cannot express fail.
 */
export async function simulatorPolicyFromFile(path: string): Promise<AclPolicy> {
  const file = await parseHclFile(path);
  const unsupported = Object.keys(file).filter((key) => key !== "namespace" && key !== "node");
  if (unsupported.length > 0)
    throw new Error(`${path}: the simulator has no ${unsupported.join(", ")} rules`);

  const namespaces: Record<string, NamespaceCapability[]> = {};
  for (const [name, rule] of labeledBlocks(file, "namespace")) {
    const extra = Object.keys(rule).filter((key) => key !== "capabilities");
    if (extra.length > 0)
      throw new Error(`${path}: namespace "${name}": the simulator has no ${extra.join(", ")}`);
    const capabilities = Array.isArray(rule.capabilities) ? rule.capabilities.map(String) : [];
    const unknown = capabilities.filter((capability) => !NAMESPACE_CAPABILITIES.includes(capability));
    if (unknown.length > 0)
      throw new Error(`${path}: namespace "${name}": the simulator has no ${unknown.join(", ")}`);
    namespaces[name] = capabilities as NamespaceCapability[];
  }
  const nodePolicy = blocks(file, "node")[0]?.policy;
  if (nodePolicy !== undefined && nodePolicy !== "read")
    throw new Error(`${path}: node policy "${String(nodePolicy)}"`);
  return { namespaces, nodeRead: nodePolicy === "read" };
}
