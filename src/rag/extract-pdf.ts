import { FlexiError } from '../core/errors.js';
import type { ExtractLimits, ExtractedDocument, ProgressCallback } from './document.js';

export async function extractPdf(_bytes: Uint8Array, fileName: string, _limits: ExtractLimits, _onProgress?: ProgressCallback): Promise<ExtractedDocument> {
  throw new FlexiError('invalid_request', `${fileName}: PDF is not supported yet.`, { param: 'file' });
}
