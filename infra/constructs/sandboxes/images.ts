export type ImageSource =
  /** ECR Public: pulled through the stack's cache rule, so the private endpoint serves it. */
  | { kind: 'ecr-public'; repository: string; reference: string }
  /** A private ECR repository (by its registry's account and Region). */
  | { kind: 'ecr'; account: string; region: string; repository: string; reference: string }
  /** Anything else (Docker Hub, ghcr.io, quay.io…): needs internet to pull. */
  | { kind: 'other'; registry: string };

const ECR_REGISTRY = /^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/;

/** Where an image reference (`registry/repository[:tag|@digest]`) is pulled from. */
export function classifyImage(image: string): ImageSource {
  const at = image.indexOf('@');
  let name = at >= 0 ? image.slice(0, at) : image;
  let reference = at >= 0 ? image.slice(at) : '';
  const colon = name.lastIndexOf(':');
  if (!reference && colon > name.lastIndexOf('/')) {
    reference = name.slice(colon);
    name = name.slice(0, colon);
  }
  const slash = name.indexOf('/');
  const first = slash >= 0 ? name.slice(0, slash) : '';
  // Docker's rule: the first part names a registry when it has a dot or a port, or is localhost.
  const registry = first && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : 'docker.io';
  const repository = registry === 'docker.io' ? name : name.slice(slash + 1);
  if (registry === 'public.ecr.aws') return { kind: 'ecr-public', repository, reference };
  const ecr = ECR_REGISTRY.exec(registry);
  if (ecr) return { kind: 'ecr', account: ecr[1]!, region: ecr[2]!, repository, reference };
  return { kind: 'other', registry };
}
