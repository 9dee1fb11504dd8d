/** What a Lambda bundle gets for `ajv-formats` (see ajv.ts beside it): adds nothing to the stand-in. */
export default function addFormats<T>(ajv: T): T {
  return ajv;
}
