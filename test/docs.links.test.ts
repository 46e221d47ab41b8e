import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import GithubSlugger from "github-slugger";
import { describe, expect, it } from "vitest";

// The operator's documentation: the README, the pages it links in docs/, and the benchmarks' README.
// Every relative link must reach a file, and every #anchor a heading of its target, named as GitHub
// names it (github-slugger: lower case, punctuation dropped, spaces to dashes, -1, -2… for repeats).

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const PAGES = [
  "README.md",
  "bench/README.md",
  ...readdirSync(join(ROOT, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => `docs/${name}`),
];

interface Link {
  readonly line: number;
  readonly target: string;
}

/** The page's lines outside fenced code blocks, with their 1-based numbers; inline code removed. */
function prose(text: string): Array<{ line: number; text: string }> {
  const lines: Array<{ line: number; text: string }> = [];
  let fence: string | undefined;
  text.split("\n").forEach((line, index) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker && (fence === undefined || marker.startsWith(fence))) {
      fence = fence === undefined ? marker : undefined;
      return;
    }
    if (fence === undefined) lines.push({ line: index + 1, text: line.replace(/`[^`]*`/g, "") });
  });
  return lines;
}

function links(text: string): Link[] {
  const found: Link[] = [];
  for (const { line, text: content } of prose(text)) {
    for (const match of content.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      found.push({ line, target: match[1] ?? "" });
    }
    const definition = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/.exec(content);
    if (definition) found.push({ line, target: definition[1] ?? "" });
  }
  return found;
}

/** The anchors GitHub gives a page's headings, in order (a repeated heading gets -1, -2, …). */
function anchors(text: string): Set<string> {
  const slugger = new GithubSlugger();
  const result = new Set<string>();
  let fence: string | undefined;
  for (const line of text.split("\n")) {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker && (fence === undefined || marker.startsWith(fence))) {
      fence = fence === undefined ? marker : undefined;
      continue;
    }
    const heading = fence === undefined ? /^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line) : null;
    if (!heading) continue;
    // What GitHub renders, then slugs: link text without its target, code without its backticks.
    const rendered = (heading[1] ?? "").replace(/\[([^\]]*)\]\([^)]*\)/g, "$1").replace(/[`*]/g, "");
    result.add(slugger.slug(rendered));
  }
  return result;
}

function read(path: string): string {
  return readFileSync(join(ROOT, path), "utf8");
}

/** Why `target`, linked from `page`, leads nowhere; undefined when it resolves. */
function broken(page: string, target: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return undefined;
  const [pathPart = "", anchor] = target.split("#", 2);
  const path = pathPart === "" ? page : relative(ROOT, join(ROOT, dirname(page), decodeURI(pathPart)));
  if (path.startsWith("..")) return "leaves the repository";
  if (!existsSync(join(ROOT, path))) return `no file ${path}`;
  if (anchor === undefined || anchor === "") return undefined;
  if (!path.endsWith(".md")) return `an anchor into ${path}, which is not a Markdown page`;
  return anchors(read(path)).has(decodeURIComponent(anchor)) ? undefined : `no heading #${anchor} in ${path}`;
}

describe("the documentation's links", () => {
  it.each(PAGES)("%s: every relative link reaches a file, every #anchor a heading", (page) => {
    const found = links(read(page));
    const problems = found.flatMap(({ line, target }) => {
      const why = broken(page, target);
      return why ? [`${page}:${line}: ${target}: ${why}`] : [];
    });
    expect(problems).toEqual([]);
  });

  it("the README links every page of docs/", () => {
    const linked = new Set(links(read("README.md")).map(({ target }) => target.split("#")[0]));
    const pages = PAGES.filter((page) => page.startsWith("docs/"));
    expect(pages.length).toBeGreaterThan(0);
    expect(pages.filter((page) => !linked.has(page))).toEqual([]);
  });
});

describe("the link checker itself", () => {
  it("finds links outside code, and GitHub's anchors for headings", () => {
    const page = [
      "# Deploy on Nomad",
      "### 3. Create the action token (cluster with ACLs)",
      "## The job's variables",
      "## `idle-monitor.cpu` and [signals](x.md)",
      "## Repeated",
      "## Repeated",
      "```sh",
      "# not a heading [nor](a-link.md)",
      "```",
      "See [a](docs/a.md#x) and `[not](code.md)`; [ref]: ../b.md",
    ].join("\n");
    expect([...anchors(page)]).toEqual([
      "deploy-on-nomad",
      "3-create-the-action-token-cluster-with-acls",
      "the-jobs-variables",
      "idle-monitorcpu-and-signals",
      "repeated",
      "repeated-1",
    ]);
    expect(links(page).map(({ target }) => target)).toEqual(["x.md", "docs/a.md#x"]);
  });

  it("tells a missing file, a missing heading and a page that leaves the repository", () => {
    expect(broken("README.md", "docs/nowhere.md")).toBe("no file docs/nowhere.md");
    expect(broken("README.md", "#no-such-heading")).toBe("no heading #no-such-heading in README.md");
    expect(broken("docs/performance.md", "../../elsewhere.md")).toBe("leaves the repository");
    expect(broken("README.md", "#deploy-on-nomad")).toBeUndefined();
    expect(broken("README.md", "https://example.com/#anything")).toBeUndefined();
  });
});
