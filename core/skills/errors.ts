import { NotFoundError, ValidationError } from '../errors.ts';

/** A pinned skill version that the registry does not have. */
export class SkillNotFoundError extends NotFoundError {
  override name = 'looprail.SkillNotFound';
}

/** A stored skill version whose content no longer matches its recorded hash: never mounted. */
export class SkillTamperedError extends ValidationError {
  override name = 'looprail.SkillTampered';
}

/** A publish the registry refuses: a bad folder, a version that exists, a publisher not allowed. */
export class SkillPublishRefusedError extends ValidationError {
  override name = 'looprail.SkillPublishRefused';
}
