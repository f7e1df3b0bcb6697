/** The `exp` claim of a JWT in milliseconds since the epoch, or `undefined` if it has none or is no JWT. */
export function tokenExpiry(token) {
    const payload = token.split(".")[1];
    if (payload === undefined)
        return undefined;
    try {
        const base64 = payload.replace(/-/g, "+").replace(/_/g, "/");
        const claims = JSON.parse(atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), "=")));
        const exp = claims.exp;
        return typeof exp === "number" ? exp * 1000 : undefined;
    }
    catch {
        return undefined;
    }
}
