import type { AclPolicy, NamespaceCapability, VariableCapability } from "../sim/index.js";
import { blocks, type HclBody, labeledBlocks, parseHclFile } from "./hcl.js";

const NAMESPACE_CAPABILITIES: readonly string[] = ["read-job", "submit-job", "scale-job", "list-jobs"];
const VARIABLE_CAPABILITIES: readonly string[] = ["read", "list", "write", "destroy"];

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
  const variables: Record<string, Record<string, VariableCapability[]>> = {};
  const capabilitiesOf = (where: string, rule: HclBody, known: readonly string[]) => {
    const capabilities = Array.isArray(rule.capabilities) ? rule.capabilities.map(String) : [];
    const unknown = capabilities.filter((capability) => !known.includes(capability));
    if (unknown.length > 0) throw new Error(`${path}: ${where}: the simulator has no ${unknown.join(", ")}`);
    return capabilities;
  };
  for (const [name, rule] of labeledBlocks(file, "namespace")) {
    const extra = Object.keys(rule).filter((key) => key !== "capabilities" && key !== "variables");
    if (extra.length > 0)
      throw new Error(`${path}: namespace "${name}": the simulator has no ${extra.join(", ")}`);
    if (rule.capabilities !== undefined)
      namespaces[name] = capabilitiesOf(
        `namespace "${name}"`,
        rule,
        NAMESPACE_CAPABILITIES,
      ) as NamespaceCapability[];
    for (const variablesRule of blocks(rule, "variables")) {
      for (const [variablePath, pathRule] of labeledBlocks(variablesRule, "path")) {
        const where = `namespace "${name}" variables path "${variablePath}"`;
        variables[name] = {
          ...variables[name],
          [variablePath]: capabilitiesOf(where, pathRule, VARIABLE_CAPABILITIES) as VariableCapability[],
        };
      }
    }
  }
  const nodePolicy = blocks(file, "node")[0]?.policy;
  if (nodePolicy !== undefined && nodePolicy !== "read")
    throw new Error(`${path}: node policy "${String(nodePolicy)}"`);
  return { namespaces, variables, nodeRead: nodePolicy === "read" };
}
