// Builds the web UI into web/dist (served by Flexi at /). For now a static page.
import { copyFileSync, mkdirSync } from 'node:fs';

const here = new URL('.', import.meta.url);
mkdirSync(new URL('dist/', here), { recursive: true });
copyFileSync(new URL('index.html', here), new URL('dist/index.html', here));
console.log('web: built web/dist');
