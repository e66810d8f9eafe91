// Structured logs, one JSON object a line on stderr. Callers pass ids, never tokens.
type Fields = Record<string, unknown>;

function write(level: string, message: string, fields: Fields = {}): void {
  const line = { timestamp: new Date().toISOString(), level, message, ...fields };
  process.stderr.write(`${JSON.stringify(line)}\n`);
}

export const logger = {
  info: (message: string, fields?: Fields) => write('info', message, fields),
  warn: (message: string, fields?: Fields) => write('warn', message, fields),
  error: (message: string, fields?: Fields) => write('error', message, fields),
};
