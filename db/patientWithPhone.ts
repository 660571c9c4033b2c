// The patient whose phone number a login attempt typed as its username (apps/login-attempts/routes.ts), by the
// rule of phi/loginPhone.ts: the same digits, or for a national spelling the number's last digits after 0 to 3
// others. Read off patients_phone_digits_reversed (db/schema.ts), an index of each number's digits reversed:
// "ends with" is then a range of that index, one per ending typed, never a scan of every patient.
import { MAX_COUNTRY_CODE_DIGITS, type TypedPhone } from "../phi/loginPhone.ts";
import { connectionOf, type WriteTransaction } from "./client.ts";

// The indexed expression, written as the index is, so that the planner matches it. Digits reversed sort below
// the reversed ending followed by ':' (the character after '9' in the C collation) exactly when they begin with it.
const REVERSED_DIGITS = `reverse(regexp_replace(p.phone, '[^0-9]', '', 'g')) COLLATE "C"`;

// The record made first when several patients have the number (a family's landline), as for an e-mail address.
// Deleted records (not erased) are theirs too, as for an e-mail address.
export const patientWithPhoneQuery = `
SELECT p.id::text AS id
  FROM unnest($1::text[]) AS typed(reversed)
  JOIN patients p
    ON ${REVERSED_DIGITS} >= typed.reversed
   AND ${REVERSED_DIGITS} < typed.reversed || ':'
   AND length(regexp_replace(p.phone, '[^0-9]', '', 'g')) - length(typed.reversed) <= $2::int
 ORDER BY p.created_at, p.id
 LIMIT 1`;

/** The query's parameters for a typed number: its endings reversed, and how many digits may come before one. */
export function patientWithPhoneValues(phone: TypedPhone): [string[], number] {
  return [
    phone.endings.map((ending) => [...ending].reverse().join("")),
    phone.international ? 0 : MAX_COUNTRY_CODE_DIGITS,
  ];
}

/** The patient whose number the typed one could be (the first record when several), or null. */
export async function patientWithPhone(tx: WriteTransaction, phone: TypedPhone): Promise<string | null> {
  const { rows } = await connectionOf(tx).query<{ id: string }>({
    name: "patients.with-phone.v1",
    text: patientWithPhoneQuery,
    values: patientWithPhoneValues(phone),
  });
  return rows[0]?.id ?? null;
}
