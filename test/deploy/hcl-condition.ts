// A small evaluator for the HCL2 expressions the job spec's `validation` conditions use, so the test
// can run them against good and bad values. hcl2json returns an expression as its source text; this
// evaluates only what Nomad 1.6.5's jobspec2 offers there (jobspec2/types.variables.go validateValue:
// the variable itself and jobspec2/functions.go) and of that only the subset below. Anything else
// (another function, a conditional, a template) throws, so a condition this cannot judge fails the
// test instead of passing unchecked. Regular expressions run as JavaScript ones: the job spec keeps
// to the syntax Go's RE2 and JavaScript share (classes, groups, alternation, ?, *, +, {m,n}, ^, $).

export type HclValue = string | number | boolean | readonly HclValue[];

type Token = { kind: "string" | "number" | "name" | "op"; text: string };

const FUNCTIONS: Record<string, (args: HclValue[]) => HclValue> = {
  regex_replace: ([text, pattern, replacement]) =>
    asString(text).replace(new RegExp(asString(pattern), "g"), asString(replacement)),
  contains: ([list, value]) => asList(list).some((item) => item === value),
  floor: ([value]) => Math.floor(asNumber(value)),
};

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  const pattern =
    /\s*(?:("(?:[^"\\]|\\.)*")|(\d+(?:\.\d+)?)|([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)|(==|!=|>=|<=|&&|\|\||[<>()[\],!]))/y;
  let at = 0;
  while (at < source.length) {
    if (/^\s*$/.test(source.slice(at))) break;
    pattern.lastIndex = at;
    const match = pattern.exec(source);
    if (!match) throw new Error(`cannot read the HCL expression at ${JSON.stringify(source.slice(at))}`);
    at = pattern.lastIndex;
    const [, string, number, name, op] = match;
    if (string !== undefined) tokens.push({ kind: "string", text: JSON.parse(string) as string });
    else if (number !== undefined) tokens.push({ kind: "number", text: number });
    else if (name !== undefined) tokens.push({ kind: "name", text: name });
    else tokens.push({ kind: "op", text: op as string });
  }
  return tokens;
}

const BINARY: Record<string, { precedence: number; apply: (a: HclValue, b: HclValue) => HclValue }> = {
  "||": { precedence: 1, apply: (a, b) => asBool(a) || asBool(b) },
  "&&": { precedence: 2, apply: (a, b) => asBool(a) && asBool(b) },
  "==": { precedence: 3, apply: (a, b) => a === b },
  "!=": { precedence: 3, apply: (a, b) => a !== b },
  "<": { precedence: 4, apply: (a, b) => asNumber(a) < asNumber(b) },
  "<=": { precedence: 4, apply: (a, b) => asNumber(a) <= asNumber(b) },
  ">": { precedence: 4, apply: (a, b) => asNumber(a) > asNumber(b) },
  ">=": { precedence: 4, apply: (a, b) => asNumber(a) >= asNumber(b) },
};

/** Evaluates `expression` (hcl2json's "${…}" form or bare) with `var.<name>` bound to `variables`. */
export function evaluateHcl(expression: string, variables: Readonly<Record<string, HclValue>>): HclValue {
  const source = /^\$\{([\s\S]*)\}$/.exec(expression)?.[1] ?? expression;
  const tokens = tokenize(source);
  let next = 0;
  const peek = () => tokens[next];
  const take = (text?: string): Token => {
    const token = tokens[next++];
    if (!token || (text !== undefined && token.text !== text)) {
      throw new Error(`expected ${text ?? "more"} in HCL expression ${JSON.stringify(source)}`);
    }
    return token;
  };
  const list = (close: string): HclValue[] => {
    const items: HclValue[] = [];
    while (peek()?.text !== close) {
      items.push(binary(0));
      if (peek()?.text === ",") take(",");
    }
    take(close);
    return items;
  };
  const primary = (): HclValue => {
    const token = take();
    if (token.kind === "string") return token.text;
    if (token.kind === "number") return Number(token.text);
    if (token.text === "(") {
      const value = binary(0);
      take(")");
      return value;
    }
    if (token.text === "[") return list("]");
    if (token.text === "!") return !asBool(primary());
    if (token.kind === "name" && token.text.startsWith("var.")) {
      const value = variables[token.text.slice(4)];
      if (value === undefined) throw new Error(`${token.text} is not bound`);
      return value;
    }
    if (token.text === "true" || token.text === "false") return token.text === "true";
    const fn = token.kind === "name" ? FUNCTIONS[token.text] : undefined;
    if (fn && peek()?.text === "(") {
      take("(");
      return fn(list(")"));
    }
    throw new Error(`unsupported ${JSON.stringify(token.text)} in HCL expression ${JSON.stringify(source)}`);
  };
  const binary = (minPrecedence: number): HclValue => {
    let left = primary();
    for (;;) {
      const op = BINARY[peek()?.text ?? ""];
      if (!op || op.precedence <= minPrecedence) return left;
      take();
      left = op.apply(left, binary(op.precedence));
    }
  };
  const value = binary(0);
  if (next !== tokens.length)
    throw new Error(`unexpected ${tokens[next]?.text} in ${JSON.stringify(source)}`);
  return value;
}

function asString(value: HclValue | undefined): string {
  if (typeof value !== "string") throw new Error(`expected a string, got ${JSON.stringify(value)}`);
  return value;
}
function asNumber(value: HclValue | undefined): number {
  if (typeof value !== "number") throw new Error(`expected a number, got ${JSON.stringify(value)}`);
  return value;
}
function asBool(value: HclValue | undefined): boolean {
  if (typeof value !== "boolean") throw new Error(`expected a bool, got ${JSON.stringify(value)}`);
  return value;
}
function asList(value: HclValue | undefined): readonly HclValue[] {
  if (!Array.isArray(value)) throw new Error(`expected a list, got ${JSON.stringify(value)}`);
  return value;
}
