/** The phase log: one record type (record.ts), the replica's writer and the tools' reader. */
export * from './reader.js';
export * from './record.js';
export * from './writer.js';
