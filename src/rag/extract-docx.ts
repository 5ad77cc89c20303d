import { FlexiError } from '../core/errors.js';
import type { ExtractLimits, ExtractedDocument } from './document.js';

export async function extractDocx(_bytes: Uint8Array, fileName: string, _limits: ExtractLimits): Promise<ExtractedDocument> {
  throw new FlexiError('invalid_request', `${fileName}: DOCX is not supported yet.`, { param: 'file' });
}
