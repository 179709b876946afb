import { describe, expect, it } from 'vitest';
import { createLogger, errorMessage } from '../../src/logger.js';

describe('createLogger', () => {
  it('writes one JSON object per line and drops levels below LOG_LEVEL', () => {
    const out: string[] = [];
    const logger = createLogger('warn', { service: 'backend' }, (line) => out.push(line));
    logger.debug('d');
    logger.info('i');
    logger.warn('w', { n: 1 });
    logger.error('e');
    expect(out.every((line) => line.endsWith('\n') && line.indexOf('\n') === line.length - 1)).toBe(true);
    expect(out.map((line) => JSON.parse(line))).toEqual([
      { time: expect.any(String), level: 'warn', msg: 'w', service: 'backend', n: 1 },
      { time: expect.any(String), level: 'error', msg: 'e', service: 'backend' },
    ]);
  });

  it('errorMessage flattens AggregateError (what a refused dual-stack connect gives)', () => {
    const error = new AggregateError([
      new Error('connect ECONNREFUSED ::1:5432'),
      new Error('connect ECONNREFUSED 127.0.0.1:5432'),
    ]);
    expect(errorMessage(error)).toBe('connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127.0.0.1:5432');
    expect(errorMessage('plain')).toBe('plain');
  });
});
