/** Secrets by name. Values are read at the edge that needs them and never recorded. */
export interface SecretStore {
  /** Throws SecretNotFoundError naming the secret (never a value). */
  get(name: string): Promise<string>;
}
