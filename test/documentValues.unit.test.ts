// What the contract tests compare to tell a retry from another request: a body as the service reads it, by what
// the published document declares (a field left out is its default; a UUID in any case is the same id).
import { describe, expect, it } from "vitest";
import type { Database } from "../db/client.ts";
import { asRead, documentValidator, type Schema } from "./documentValues.ts";
import { testPlatform } from "./tokens.ts";

interface Document {
  paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: Schema }> } }>>;
  components?: { schemas?: Record<string, unknown> };
}

// Reading the document reaches no database.
const document = (await (await testPlatform({} as Database).request("/openapi.json")).json()) as Document;
const validate = documentValidator(document);
const deref = (ref: string) =>
  (document.components?.schemas?.[ref.replace("#/components/schemas/", "")] ?? {}) as Schema;
const bodyOf = (method: string, path: string) => {
  const schema = document.paths[path]?.[method]?.requestBody?.content["application/json"]?.schema;
  if (!schema) throw new Error(`${method} ${path} takes no JSON body in the document`);
  return schema;
};
const read = (schema: Schema, value: unknown) => asRead(schema, value, deref, validate);

describe("a body as the service reads it", () => {
  it("is the same with a field left out and with the field's declared default (a document's deletion reason)", () => {
    const deletion = bodyOf("delete", "/documents/{id}");
    expect(read(deletion, {})).toEqual(read(deletion, { reason: null }));
    expect(read(deletion, { reason: "duplicate upload" })).not.toEqual(read(deletion, {}));
  });

  it("fills the defaults of nested fields, and of the branch of a union the body takes", () => {
    const registration = bodyOf("post", "/patients");
    expect(read(registration, { insuranceInfo: { provider: "Acme" } })).toMatchObject({
      userId: null,
      medicalConditions: [],
      insuranceInfo: { provider: "Acme", effectiveDate: null, expiryDate: null },
    });
    const email = bodyOf("post", "/notifications/email");
    const patientId = "3f2b1c9e-7a4d-4e8b-9c1a-2d3e4f5a6b7c";
    const sent = { patientId, subject: "Welcome", template: "welcome", variables: { firstName: "Ada" } };
    expect(validate(email, sent)).toEqual([]);
    expect(read(email, sent)).toEqual({ ...sent, relatedEventId: null });
  });

  it("reads a UUID in any case as the one the platform stores, in lower case", () => {
    const registration = bodyOf("post", "/patients");
    const id = "3F2B1C9E-7A4D-4E8B-9C1A-2D3E4F5A6B7C";
    expect(read(registration, { userId: id })).toMatchObject({ userId: id.toLowerCase() });
  });
});
