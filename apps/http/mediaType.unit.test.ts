// Content-Type read as RFC 9110 writes it: blanks around the `;`, a `;` with nothing after it, quoted values, any
// case; and nothing else (a parameter with no value, a blank inside the type, a list of types). Accept read by the
// same grammar, its ranges, weights and parameters as RFC 9110 §12.5.1 ranks them; and the public routes, which
// answer in a media type of their own each, refusing with a 406 a request whose Accept admits none of it.
import { describe, expect, it } from "vitest";
import type { Database } from "../../db/client.ts";
import { testPlatform } from "../../test/tokens.ts";
import { admits, mediaTypeOf } from "./mediaType.ts";

describe("mediaTypeOf", () => {
  it("reads every spelling RFC 9110 allows", () => {
    expect(mediaTypeOf("application/json")).toEqual({ essence: "application/json", parameters: [] });
    expect(mediaTypeOf('Application/JSON ; Charset="UTF-8"')).toEqual({
      essence: "application/json",
      parameters: [["charset", "UTF-8"]],
    });
    expect(mediaTypeOf("application/json;")).toEqual({ essence: "application/json", parameters: [] });
    expect(mediaTypeOf("application/json ;\t; charset=utf-8 ")?.parameters).toEqual([["charset", "utf-8"]]);
    expect(mediaTypeOf('text/plain; a="x\\"y"; a=b')?.parameters).toEqual([
      ["a", 'x"y'],
      ["a", "b"],
    ]);
    expect(mediaTypeOf("application/merge-patch+json")?.essence).toBe("application/merge-patch+json");
  });

  it("is undefined for what is no media type", () => {
    for (const header of [
      "",
      "application",
      "application/",
      "application /json",
      "application/json, text/plain",
      "application/json; charset",
      "application/json; charset=",
      "application/json; charset=utf 8",
      'application/json; charset="utf-8',
      "application/json\u0000",
      "application/jsön",
    ]) {
      expect(mediaTypeOf(header), JSON.stringify(header)).toBeUndefined();
    }
  });
});

describe("admits", () => {
  const JSON_ANSWER = "application/json";

  it("admits anything when Accept is missing, empty or lists nothing", () => {
    for (const accept of [undefined, "", "  ", ",", " , ,\t"]) {
      expect(admits(accept, JSON_ANSWER), JSON.stringify(accept)).toBe(true);
      expect(admits(accept, "text/html; charset=utf-8"), JSON.stringify(accept)).toBe(true);
    }
  });

  it("matches a type, type/* and */*, in any case and with blanks around the members", () => {
    for (const accept of [
      "application/json",
      "Application/JSON",
      "application/*",
      "*/*",
      "text/html, application/json",
      "text/html ,\t*/*;q=0.1",
      "text/html;q=0.9, application/xhtml+xml, application/*;q=0.5",
    ]) {
      expect(admits(accept, JSON_ANSWER), accept).toBe(true);
    }
    for (const accept of [
      "text/html",
      "application/xml",
      "text/*",
      "application/problem+json",
      "application/json-seq",
      "application/jsonx, text/json",
    ]) {
      expect(admits(accept, JSON_ANSWER), accept).toBe(false);
    }
  });

  it("reads q=0 as excluded, the most specific range deciding over the rest", () => {
    for (const accept of [
      "application/json;q=0",
      "application/json; q=0.000",
      "application/json;Q=0, */*",
      "*/*, application/json;q=0",
      "application/*;q=0, text/html",
      "application/json;q=0, application/*",
      "*/*;q=0",
    ]) {
      expect(admits(accept, JSON_ANSWER), accept).toBe(false);
    }
    for (const accept of [
      "application/json;q=0.001",
      "application/json;q=1.000",
      "*/*;q=0, application/json;q=0.5",
      "application/*;q=0, application/json",
      "text/html;q=0, */*;q=0.1",
    ]) {
      expect(admits(accept, JSON_ANSWER), accept).toBe(true);
    }
  });

  it("takes the lowest weight of equally specific ranges", () => {
    expect(admits("application/json, application/json;q=0", JSON_ANSWER)).toBe(false);
    expect(admits("application/*;q=0.5, application/*;q=0, */*", JSON_ANSWER)).toBe(false);
  });

  it("matches a range's parameters to the answer's, every answer being UTF-8", () => {
    const metrics = "text/plain; version=0.0.4; charset=utf-8";
    for (const [accept, answer] of [
      ["application/json; charset=utf-8", JSON_ANSWER],
      ['application/json; charset="UTF-8"', JSON_ANSWER],
      ["application/json;charset=utf8", JSON_ANSWER],
      ["text/plain;version=0.0.4;q=0.2", metrics],
      ["text/plain;version=1.0.0;q=0, text/plain;version=0.0.4", metrics],
      // Prometheus's scrape, by default
      [
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
        metrics,
      ],
    ] as const) {
      expect(admits(accept, answer), accept).toBe(true);
    }
    for (const [accept, answer] of [
      ["application/json; charset=utf-16", JSON_ANSWER],
      ["application/json; version=2", JSON_ANSWER],
      ["text/plain;version=1.0.0", metrics],
      // The range with parameters is the more specific, and it excludes.
      ["text/plain, text/plain;version=0.0.4;q=0", metrics],
    ] as const) {
      expect(admits(accept, answer), accept).toBe(false);
    }
  });

  it("reads a member that is no media range as admitting nothing, and the others as they say", () => {
    for (const accept of [
      "*",
      "json",
      "*/json",
      "application/",
      "application/json;q=abc",
      "application/json;q=-1",
      "application/json;q=0x1",
      "application/json;q=2",
      "application/json;q=1.001",
      "application/json;q=1.5",
      "application/json;q=0.5;charset=utf-8",
      "application/json;q=0.5;q=1",
      "application/json; charset",
      'application/json; a="unterminated, */*',
    ]) {
      expect(admits(accept, JSON_ANSWER), accept).toBe(false);
    }
    // A comma in a quoted value separates nothing; a member that is malformed leaves the others to decide.
    expect(admits('text/html; a="x, y", application/json', JSON_ANSWER)).toBe(true);
    expect(admits("*, application/json", JSON_ANSWER)).toBe(true);
    expect(admits("*, */*;q=abc", JSON_ANSWER)).toBe(false);
    expect(admits("application/json;q=2, */*;q=0.1", JSON_ANSWER)).toBe(true);
  });

  it("reads the weights clients write beside RFC 9110's, and a JSON range as taking a +json answer", () => {
    // Java's HttpURLConnection, by default.
    expect(admits("text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2", JSON_ANSWER)).toBe(true);
    expect(admits("application/json;q=1.0000", JSON_ANSWER)).toBe(true);
    expect(admits("application/json;q=0.25000", JSON_ANSWER)).toBe(true);
    expect(admits("application/json;q=.0, text/html", JSON_ANSWER)).toBe(false);
    expect(admits("application/json", "application/schema+json")).toBe(true);
    expect(admits("application/json;q=0, */*", "application/schema+json")).toBe(false);
    expect(admits("application/json", "application/problem+json")).toBe(true);
    expect(admits("text/json", "application/schema+json")).toBe(false);
    // The answer's own type is more specific than a JSON range taking it.
    expect(admits("application/schema+json, application/json;q=0", "application/schema+json")).toBe(true);
    expect(admits("application/schema+json;q=0, application/json", "application/schema+json")).toBe(false);
  });
});

describe("the public routes", () => {
  // None of these requests reaches the database.
  const app = testPlatform({} as Database);
  const publicRoutes = [
    ["/health/live", "application/json"],
    ["/openapi.json", "application/json"],
    ["/asyncapi.json", "application/json"],
    ["/events/schemas/patient.created.json", "application/schema+json"],
    ["/metrics", "text/plain"],
    ["/docs", "text/html"],
    ["/docs/assets/swagger-ui-dist/swagger-ui.css", "text/css"],
    ["/docs/assets/swagger-ui-dist/swagger-ui-bundle.js", "text/javascript"],
    ["/console", "text/html"],
    ["/console/console.js", "text/javascript"],
    ["/console/settings.json", "application/json"],
    ["/console/jose/index.js", "text/javascript"],
  ] as const;

  it.each(publicRoutes)("%s answers in %s to an Accept that admits it", async (path, mediaType) => {
    const [type] = mediaType.split("/");
    for (const accept of [undefined, "*/*", `${type}/*`, mediaType, `${mediaType};q=0.1, image/png`]) {
      const response = await app.request(path, { headers: accept === undefined ? {} : { Accept: accept } });
      expect(response.status, `${accept}`).toBe(200);
      expect(mediaTypeOf(response.headers.get("content-type") ?? "")?.essence, `${accept}`).toBe(mediaType);
    }
  });

  it.each(publicRoutes)("%s refuses with a 406 an Accept that does not admit %s", async (path, mediaType) => {
    for (const accept of ["image/png", `${mediaType};q=0, */*`, "application/problem+json"]) {
      for (const method of ["GET", "HEAD"]) {
        const response = await app.request(path, { method, headers: { Accept: accept } });
        expect(response.status, `${method} ${accept}`).toBe(406);
        expect(response.headers.get("content-type"), accept).toBe("application/problem+json");
        // Never kept by a cache, as the answer it stands for may be.
        expect(response.headers.get("cache-control"), accept).toBe("no-store");
        expect(response.headers.get("x-correlation-id"), accept).toMatch(/^[0-9a-f-]{36}$/);
        if (method === "HEAD") continue;
        expect(await response.json(), accept).toEqual({
          type: "about:blank",
          title: "Not Acceptable",
          status: 406,
          detail: `The answer is ${mediaType}, which the Accept header does not admit.`,
          instance: path,
          errors: [{ field: "header.accept", message: `admits no ${mediaType}` }],
        });
      }
    }
  });

  it("refuse a wrong method, or an unknown asset, with a problem whatever Accept admits", async () => {
    const wrongMethod = await app.request("/docs", { method: "POST", headers: { Accept: "text/html" } });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("content-type")).toBe("application/problem+json");
    const unknown = await app.request("/console/nothing.js", { headers: { Accept: "text/javascript" } });
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get("content-type")).toBe("application/problem+json");
  });
});
