/**
 * The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1: the scheme case-insensitive, one or more
 * spaces, the token, optional trailing spaces), the one parser of that header in meetcore.
 * @param header the header's value, or undefined when absent.
 * @returns the token, or null when the header is absent or not of that form.
 */
export function bearerToken(header: string | undefined): string | null {
  if (header === undefined) return null;
  return /^Bearer +(\S+) *$/i.exec(header)?.[1] ?? null;
}
