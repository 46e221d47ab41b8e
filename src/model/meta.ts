type Meta = Record<string, string> | null | undefined;

/** The part of a Nomad job (PascalCase JSON, nil maps as null) that carries meta. */
export interface JobMeta {
  Meta?: Meta;
  TaskGroups?: Array<{
    Name: string;
    Meta?: Meta;
    Tasks?: Array<{ Name: string; Meta?: Meta }> | null;
  }> | null;
}

/** One bad `idle-monitor.*` entry; `expected` is the valid form, for the log line. */
export interface MetaProblem {
  scope: "job" | "group";
  key: string;
  value: string;
  expected: string;
}
