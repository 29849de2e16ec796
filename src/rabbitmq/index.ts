export * from './client.ts';
export * from './errors.ts';
export * from './password.ts';
export * from './path.ts';
export * from './versions.ts';
export * from './request-count.ts';
