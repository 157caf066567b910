import { z } from "zod";

/**
 * An id in a path or a body: a UUID in any letter case, handed to the code in lower case (the form
 * PostgreSQL returns), so that comparisons in code agree with comparisons in SQL.
 */
export const Id = z.uuid().transform((id) => id.toLowerCase());
