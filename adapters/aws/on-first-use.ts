/**
 * A value made once, on first use: an AWS SDK client whose package is imported only then.
 * The Lambdas leave the SDK to the runtime (infra/constructs/handler-function.ts), which
 * loads a package when it is first imported, so a client a function needs only on some
 * paths (a mail, an event, a secret, a hosted MCP server) costs its init nothing.
 */
export function onFirstUse<T>(make: () => Promise<T>, given?: T): () => Promise<T> {
  let made: Promise<T> | undefined = given === undefined ? undefined : Promise.resolve(given);
  return () => {
    made ??= make().catch((error: unknown) => {
      // A failed import or construction is tried again by the next caller, not remembered.
      made = undefined;
      throw error;
    });
    return made;
  };
}
