// Each benchmark measures in a database of its own, made anew on the server it is given.
import pg from "pg";

/** Drops `name` on the server of `server` (a connection URL), creates it empty, and returns its URL. */
export async function freshDatabase(server: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(server);
  url.pathname = `/${name}`;
  return url.toString();
}
