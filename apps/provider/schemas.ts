// The provider API's bodies. Providers have no events of their own in the catalog; their fields are
// validated with the catalog's field schemas, as every other contact detail is.
import { z } from "zod";
import { deliverableEmail, e164Phone, line } from "../../events/fields.ts";
import { anyCaseUuid } from "../http/ids.ts";

const providerFields = {
  /** The provider's login: a provider token with this subject acts as this provider. */
  userId: anyCaseUuid.nullable(),
  firstName: line(200),
  lastName: line(200),
  specialty: line(200),
  email: deliverableEmail,
  phone: e164Phone.nullable(),
};

export const createProviderBody = z.strictObject({
  ...providerFields,
  userId: providerFields.userId.optional().default(null),
  phone: providerFields.phone.optional().default(null),
});

export const updateProviderBody = z
  .strictObject(providerFields)
  .partial()
  .refine((body) => Object.keys(body).length > 0, { message: "name at least one field to change" })
  .meta({ minProperties: 1, description: "Names at least one field to change." });

export const providerIdParam = z.strictObject({ id: anyCaseUuid });

export const providerResponse = z.object({
  id: z.uuid(),
  ...providerFields,
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});

export type ProviderResponse = z.infer<typeof providerResponse>;
