import { AxiosError } from "axios";
import { NomadError } from "../model/nomad.js";
import type { StoredVariable, VariableStore, VariableWrite } from "../ports.js";
import { nomadError, withReadableBody } from "./errors.js";
import { deleteVariable, listVariables, readVariable, writeVariable } from "./generated/sdk.gen.js";
import { type NomadHttp, raftIndex } from "./http.js";

/**
 * The Variables of one namespace, read and written with `token` (the task's workload identity, whose
 * job-attached policy allows the monitor's own subtree) rather than the action token.
 */
export function variableStore(http: NomadHttp, namespace: string, token: string | undefined): VariableStore {
  const base = { client: http.client, auth: token };
  const query = (extra: { cas?: number; prefix?: string } = {}) => ({ ...http.query(namespace), ...extra });
  return {
    list: async (prefix) => {
      const response = await http.call("GET /v1/vars", `list variables under ${prefix}`, () =>
        listVariables({ ...base, query: query({ prefix }) }),
      );
      const entries = (response.data ?? []).map((entry) => ({
        path: entry.Path,
        modifyIndex: entry.ModifyIndex,
      }));
      return { entries, index: raftIndex(response) };
    },
    read: async (path) => {
      try {
        const response = await http.call("GET /v1/var/:path", `read variable ${path}`, () =>
          readVariable({ ...base, path: { var_path: path }, query: query() }),
        );
        return { items: response.data.Items ?? {}, modifyIndex: response.data.ModifyIndex };
      } catch (error) {
        if (error instanceof NomadError && error.kind === "not-found") return undefined;
        throw error;
      }
    },
    write: (path, items, cas) =>
      checkAndSet(http, "PUT /v1/var/:path", `write variable ${path}`, async () => {
        const response = await writeVariable({
          ...base,
          path: { var_path: path },
          query: query({ cas }),
          body: { Namespace: namespace, Path: path, Items: items },
        });
        return { kind: "written", modifyIndex: response.data.ModifyIndex };
      }),
    delete: async (path, cas) => {
      const result = await checkAndSet(http, "DELETE /v1/var/:path", `delete variable ${path}`, async () => {
        await deleteVariable({ ...base, path: { var_path: path }, query: query({ cas }) });
        return { kind: "written", modifyIndex: 0 };
      });
      return result.kind === "written" ? "deleted" : "conflict";
    },
  };
}

/** A lost check-and-set race answers 409 with the current Variable as JSON (recorded from Nomad 1.6.5). */
async function checkAndSet(
  http: NomadHttp,
  route: string,
  what: string,
  request: () => Promise<VariableWrite>,
): Promise<VariableWrite> {
  try {
    const result = await request();
    http.count(route, 200);
    return result;
  } catch (error) {
    http.count(route, error instanceof AxiosError ? error.response?.status : undefined);
    const conflict =
      error instanceof AxiosError && error.response?.status === 409
        ? currentVariable(error.response.data)
        : undefined;
    if (conflict) return { kind: "conflict", current: conflict };
    throw nomadError(await withReadableBody(error), what);
  }
}

function currentVariable(data: unknown): StoredVariable | undefined {
  const parsed: unknown = typeof data === "string" ? safeJson(data) : data;
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const { Items, ModifyIndex } = parsed as { Items?: Record<string, string> | null; ModifyIndex?: unknown };
  return typeof ModifyIndex === "number" ? { items: Items ?? {}, modifyIndex: ModifyIndex } : undefined;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
