export * from './openai.js';
export * from './ollama.js';
export * from './validation.js';
export * from './admin.js';
export * from './system.js';
export * from './energy.js';
export * from './templates.js';
